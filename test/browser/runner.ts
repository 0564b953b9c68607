/**
 * In-page runner for test/browser/chromium.test.ts: bundled with esbuild
 * (platform browser) together with src/core and the ticket vectors, loaded
 * into Chromium, and driven through globalThis.__runCoreChecks(). Not a
 * vitest file: it runs in the page and reports plain results.
 */
import { hex, keysFor, sealVector, vectors, type InvalidVector, type ValidVector } from "../vectors/vectors.js";
import {
  decodeBase64url,
  encodeBase64url,
  encodeHex,
  encodeSession,
  KeyUnknownError,
  openTicket,
  parseSession,
  ResumptionError,
  sealTicket,
  sessionToJson,
  TicketKeyCache,
} from "../../src/core/index.js";

export interface CheckResult {
  name: string;
  ok: boolean;
  detail?: string;
}

// The JSON's inferred type is a union of both kinds of case; read it loosely.
type Vector = (ValidVector | InvalidVector) & Record<string, any>;

const all = vectors as Vector[];


/** Key order independent comparison of two JSON values. */
function sameJson(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(canon)
      : v && typeof v === "object"
        ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, canon(x)]))
        : v;
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b));
}


async function validVector(v: Vector): Promise<string | undefined> {
  const { keys, key } = await keysFor(v);
  const session = parseSession(v.session, v.session_defaults);
  if (encodeHex(encodeSession(session)) !== v.expected.session_bytes) return "session bytes differ";
  const ticket = await sealVector(v as ValidVector, key);
  if (encodeHex(ticket) !== v.expected.ticket) return `sealed ticket differs: ${encodeHex(ticket)}`;
  if (encodeBase64url(ticket) !== v.expected.ticket_base64url) return "base64url differs";
  const opened = await openTicket(decodeBase64url(v.expected.ticket_base64url)!, { context: v.context, now: v.open_at, keys });
  if (!sameJson(sessionToJson(opened.session), v.expected.session)) return `opened session differs: ${JSON.stringify(sessionToJson(opened.session))}`;
  if (encodeHex(opened.sessionId) !== v.session_id) return "session id differs";
  if (opened.singleUse !== v.single_use || opened.hasLookupId !== v.with_lookup_id || opened.expiresAt !== v.expected.expires_at) {
    return "ticket fields differ";
  }
  return undefined;
}

async function invalidVector(v: Vector): Promise<string | undefined> {
  const { keys } = await keysFor(v);
  try {
    await openTicket(hex(v.ticket), { context: v.context, now: v.open_at, keys });
    return "opened";
  } catch (e) {
    if (!(e instanceof ResumptionError)) return `threw a non-ResumptionError: ${String(e)}`;
    if (e.code !== v.expected_error.code) return `expected ${v.expected_error.code}, got ${e.code}`;
    if (e.code === "key_unknown") {
      const lookupId = e instanceof KeyUnknownError && e.lookupId ? encodeHex(e.lookupId) : undefined;
      if (lookupId !== v.expected_error.lookup_id) return `lookup id ${lookupId}`;
    }
    return undefined;
  }
}

/** Seal and open with random nonces: every field of a varied set of sessions survives. */
async function randomRoundTrips(): Promise<string | undefined> {
  const keys = new TicketKeyCache();
  const material = crypto.getRandomValues(new Uint8Array(32));
  keys.add(42, material);
  const seen = new Set<string>();
  for (const v of all.filter((x) => x.type === "valid")) {
    for (const withLookupId of [false, true]) {
      const sessionId = crypto.getRandomValues(new Uint8Array(1 + (seen.size % 32)));
      const session = parseSession(v.session, v.session_defaults);
      const context = `${v.context}-${seen.size}`;
      const ticket = await sealTicket({
        session,
        sessionId,
        withLookupId,
        issuedAt: v.issued_at,
        lifetime: v.lifetime,
        singleUse: !v.single_use,
        context,
        keyId: 42,
        key: await keys.subkey(42, context)!,
      });
      seen.add(encodeHex(ticket.subarray(5 + (withLookupId ? sessionId.length : 0), 17 + (withLookupId ? sessionId.length : 0))));
      const opened = await openTicket(ticket, { context, now: v.issued_at, keys });
      if (!sameJson(sessionToJson(opened.session), v.expected.session)) return `${v.name}: session differs`;
      if (encodeHex(opened.sessionId) !== encodeHex(sessionId) || opened.singleUse === v.single_use) return `${v.name}: ticket fields differ`;
      try {
        await openTicket(ticket, { context: `${context}x`, now: v.issued_at, keys });
        return `${v.name}: opened in another context`;
      } catch (e) {
        if (!(e instanceof ResumptionError) || e.code !== "ticket_invalid") return `${v.name}: wrong-context error ${String(e)}`;
      }
    }
  }
  // Random nonces: no two tickets share one.
  if (seen.size !== 2 * all.filter((x) => x.type === "valid").length) return "a nonce repeated";
  return undefined;
}

async function check(name: string, run: () => Promise<string | undefined>): Promise<CheckResult> {
  try {
    const problem = await run();
    return problem === undefined ? { name, ok: true } : { name, ok: false, detail: problem };
  } catch (e) {
    return { name, ok: false, detail: `threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}` };
  }
}

async function runCoreChecks(): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  results.push(await check("secure context with WebCrypto", async () => (globalThis.isSecureContext && crypto.subtle ? undefined : "no crypto.subtle")));
  for (const v of all) {
    results.push(await check(`${v.type} vector ${v.name}`, () => (v.type === "valid" ? validVector(v) : invalidVector(v))));
  }
  results.push(await check("seal/open round trips with random nonces", randomRoundTrips));
  return results;
}

const g = globalThis as unknown as Record<string, unknown>;
g.__runCoreChecks = runCoreChecks;
g.__coreChecksReady = true;
