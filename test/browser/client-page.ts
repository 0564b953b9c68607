/**
 * In-page script for test/browser/cors.test.ts: the typed client
 * (src/client), bundled with esbuild for the browser, calling the worker on
 * another origin. Driven through globalThis.__useClient(baseUrl, token);
 * reports each call's outcome as plain data. Not a vitest file.
 */
import { ResumptionClient, type Result } from "../../src/client/index.js";

export interface CallOutcome {
  call: string;
  ok: boolean;
  status?: number;
  code?: string;
  /** A field of the answer the test checks (e.g. the opened session's server name). */
  value?: unknown;
}

const SESSION = {
  version: "TLSv1.2",
  cipher_suite: 49195,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
  server_name: "browser.example.com",
} as const;

function outcome<T>(call: string, result: Result<T>, pick?: (value: T) => unknown): CallOutcome {
  if (result.ok) return { call, ok: true, status: result.status, ...(pick && { value: pick(result.value) }) };
  return { call, ok: false, code: result.error.code, ...(result.error.status !== undefined && { status: result.error.status }) };
}

async function useClient(baseUrl: string, token: string): Promise<CallOutcome[]> {
  // A page's calls are not on a handshake path: a generous deadline, and no retries that would hide a failure.
  const client = new ResumptionClient({ baseUrl, token, timeout: 10_000, retries: 0 });
  const results: CallOutcome[] = [];
  const sealed = await client.sealTicket({ session: SESSION, lifetime: 600 });
  results.push(outcome("sealTicket", sealed, (v) => v.lifetime_hint));
  const ticket = sealed.ok ? sealed.value.ticket : "AQAAAAA";
  results.push(outcome("openTicket", await client.openTicket(ticket), (v) => v.session.server_name));
  // A refusal: its code must reach the page (CORS headers on errors too).
  results.push(outcome("openTicket(tampered)", await client.openTicket(`${ticket.slice(0, -6)}AAAAAA`)));
  results.push(outcome("getKeys", await client.getKeys(), (v) => v.keys.length > 0));
  // HEAD and DELETE take a preflight of their own.
  results.push(outcome("hasSession", await client.hasSession("ab".repeat(16))));
  return results;
}

const g = globalThis as unknown as Record<string, unknown>;
g.__useClient = useClient;
g.__clientReady = true;
