/**
 * The Service Binding entrypoint between two workers under Miniflare: the
 * service (src/index.ts, bundled as test/e2e/service.ts does, with
 * wrangler.toml's bindings) and a calling Worker (test/e2e/rpc-caller.ts)
 * whose RESUMPTION binding names the service's ResumptionService
 * entrypoint, as docs/deploy.md's wrangler.toml does. The test drives the
 * caller over HTTP; the caller calls the service over RPC; the service's
 * own HTTP API is on its URL, so both ways in are compared on one worker.
 */
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type Service } from "./service.js";

const CALLER = fileURLToPath(new URL("./rpc-caller.ts", import.meta.url));
const SESSION = {
  version: "TLSv1.3",
  cipher_suite: 4865,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  server_name: "rpc.example.com",
  ticket_age_add: 12345,
};

let service: Service | undefined;
let caller: Awaited<ReturnType<Service["worker"]>> | undefined;

beforeAll(async () => {
  const built = await esbuild.build({ entryPoints: [CALLER], bundle: true, format: "esm", platform: "neutral", target: "es2022", external: ["cloudflare:*"], write: false, logLevel: "silent" });
  service = await startService({
    contexts: { default: {}, other: {} },
    grants: {
      terminator: { scopes: ["tickets", "sessions"] },
      other: { context: "other", scopes: ["tickets", "sessions"] },
      reader: { scopes: ["keys"] },
    },
    workers: [
      {
        name: "caller",
        modules: true,
        script: built.outputFiles[0]!.text,
        compatibilityDate: "2026-04-26",
        serviceBindings: { RESUMPTION: { name: "edge-session-resumption", entrypoint: "ResumptionService" } },
      },
    ],
  });
  caller = await service.worker("caller");
}, 60_000);

afterAll(async () => {
  await service?.stop();
});

/** One RPC call through the calling Worker: what the binding's method returned. */
async function rpc(method: string, ...args: unknown[]): Promise<any> {
  const res = await caller!.fetch("http://caller/call", { method: "POST", body: JSON.stringify({ method, args }) });
  if (res.status !== 200) throw new Error(`caller: HTTP ${res.status} ${await res.text()}\n${service!.logs().slice(-2000)}`);
  return res.json();
}

async function http(path: string, token: string, body: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${service!.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

const tokens = () => service!.tokens as Record<"terminator" | "other" | "reader", string>;

describe("a Worker calling the service through its Service Binding", () => {
  it("seals and opens over RPC with the answers HTTP gives", async () => {
    const sealed = await rpc("sealTicket", tokens().terminator, { session: SESSION, lifetime: 600 });
    expect(sealed).toMatchObject({ ok: true, value: { format: "binary", lifetime_hint: 600 } });
    const overRpc = await rpc("openTicket", tokens().terminator, { ticket: sealed.value.ticket, server_name: "rpc.example.com" });
    const overHttp = await http("/v1/tickets/open", tokens().terminator, { ticket: sealed.value.ticket, server_name: "rpc.example.com" });
    expect(overHttp.status).toBe(200);
    expect(overRpc).toEqual({ ok: true, value: overHttp.body });
    // A ticket HTTP sealed opens over RPC, from its bytes too.
    const fromHttp = await http("/v1/tickets", tokens().terminator, { session: SESSION });
    const bytes = await caller!.fetch("http://caller/open-bytes", { method: "POST", body: JSON.stringify({ token: tokens().terminator, ticket: fromHttp.body.ticket }) });
    expect(await bytes.json()).toMatchObject({ ok: true, value: { session_id: fromHttp.body.session_id, source: "ticket" } });
  });

  it("answers refusals as typed error objects with the stable codes and HTTP's statuses", async () => {
    const { value: sealed } = await rpc("sealTicket", tokens().terminator, { session: SESSION });
    expect(await rpc("openTicket", "esr_not_a_token_0123456789", { ticket: sealed.ticket })).toEqual({
      ok: false,
      error: { code: "unauthorized", status: 401, message: "the bearer token is not valid" },
    });
    expect((await rpc("openTicket", tokens().reader, { ticket: sealed.ticket })).error).toMatchObject({ code: "forbidden", status: 403 });
    // Per-context authorization: another context's token does not open this context's ticket.
    expect((await rpc("openTicket", tokens().other, { ticket: sealed.ticket })).error).toMatchObject({ code: "ticket_invalid", status: 422 });
    expect((await rpc("openTicket", tokens().terminator, { ticket: 42 })).error).toMatchObject({ code: "invalid_request", status: 400, field: "ticket" });
    expect((await rpc("openTicket", tokens().terminator, { ticket: sealed.ticket, server_name: "elsewhere.example.com" })).error).toMatchObject({
      code: "sni_mismatch",
      status: 422,
    });
    // RFC 8446 8.3: a client's ticket age far from the server's, with the measured skew in details.
    const age = await rpc("openTicket", tokens().terminator, { ticket: sealed.ticket, obfuscated_ticket_age: (SESSION.ticket_age_add + 3_600_000) % 2 ** 32 });
    expect(age.error).toMatchObject({ code: "ticket_age_mismatch", status: 422, details: { window_ms: 10_000 } });
  });

  it("shares the single-use record with HTTP", async () => {
    const { value: sealed } = await rpc("sealTicket", tokens().terminator, { session: SESSION, single_use: true });
    expect((await http("/v1/tickets/open", tokens().terminator, { ticket: sealed.ticket })).status).toBe(200);
    expect((await rpc("openTicket", tokens().terminator, { ticket: sealed.ticket })).error).toMatchObject({ code: "ticket_replayed", status: 422 });
  });

  it("stores and fetches sessions in the caller's context", async () => {
    const id = "5e55104a" + "00".repeat(8);
    expect(await rpc("putSession", tokens().terminator, id, { session: SESSION, timeout: 300 })).toMatchObject({ ok: true, value: { session_id: id } });
    const found = await rpc("getSession", tokens().terminator, id);
    expect(found).toMatchObject({ ok: true, value: { session_id: id, session: { master_secret: SESSION.master_secret } } });
    const overHttp = await fetch(`${service!.url}/v1/sessions/${id}`, { headers: { authorization: `Bearer ${tokens().terminator}` } });
    expect(found.value).toEqual(await overHttp.json());
    expect((await rpc("getSession", tokens().other, id)).error).toMatchObject({ code: "session_not_found", status: 404 });
    expect((await rpc("getSession", tokens().terminator, "XYZ")).error).toMatchObject({ code: "invalid_session_id", status: 400 });
  });

  it("exposes its methods and nothing else: not env (the secrets), not ctx, not the internals", async () => {
    for (const method of ["env", "ctx", "constructor", "#methods", "fetch"]) {
      const res = await caller!.fetch("http://caller/call-raw", { method: "POST", body: JSON.stringify({ method, args: [] }) });
      const out = (await res.json()) as { threw?: string; ok?: boolean };
      expect(out.threw, method).toBeDefined();
      expect(JSON.stringify(out)).not.toContain(service!.masterKey);
    }
  });

  it("logs one line per call, without the token", async () => {
    const before = service!.logs().split("\n").filter((l) => l.includes('"event":"rpc"')).length;
    await rpc("openTicket", tokens().terminator, { ticket: "AQAAAAA" });
    let lines: string[] = [];
    for (let i = 0; i < 100 && lines.length <= before; i++) {
      lines = service!.logs().split("\n").filter((l) => l.includes('"event":"rpc"'));
      if (lines.length <= before) await new Promise((r) => setTimeout(r, 50));
    }
    expect(JSON.parse(lines.at(-1)!.slice(lines.at(-1)!.indexOf("{")))).toMatchObject({ event: "rpc", method: "openTicket", status: 422, code: "ticket_malformed", context: "default", auth: "token" });
    expect(service!.logs()).not.toContain(tokens().terminator);
  });
});
