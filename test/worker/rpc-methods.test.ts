/**
 * The Service Binding entrypoint's methods (src/rpc/methods.ts) beside the
 * HTTP app, both on one set of services as in the deployed worker: the same
 * answers, the same refusals with the same codes and statuses, the same
 * per-context authorization, one single-use record. The binding itself,
 * between two workers, is test/e2e/rpc-binding.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { decodeBase64url, type SessionJson } from "../../src/core/index.js";
import type { Env } from "../../src/env.js";
import { statusOf } from "../../src/http/errors.js";
import { ResumptionMethods } from "../../src/rpc/methods.js";
import type { RpcResult } from "../../src/rpc/types.js";
import { servicesFactory } from "../../src/services.js";
import { unreachableGuard } from "./faults.js";
import { T0, TLS12_SESSION, noNetwork, testRingName } from "./harness.js";
import { JWT_ISSUERS, PII, sign } from "./jwt-fixtures.js";

/** The harness's session, typed as the API's JSON. */
const SESSION = TLS12_SESSION as SessionJson;

/** One isolate: the HTTP app and the RPC methods over the same services, on a clock the test moves. */
function isolate(overrides: Partial<Env> = {}) {
  const site = { now: T0, lines: [] as Record<string, unknown>[] };
  const clock = () => site.now * 1000;
  const bindings = { ...(env as unknown as Env), JWT_ISSUERS, ...overrides };
  const servicesFor = servicesFactory({ clock, ringName: testRingName(), jwksFetch: noNetwork });
  const app = createApp({ clock, servicesFor, writeLog: () => {} });
  const rpc = new ResumptionMethods(() => servicesFor(bindings), { write: (line) => site.lines.push(JSON.parse(line)) });
  const http = async (method: string, path: string, token: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await app.request(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }, bindings);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return { site, rpc, http };
}

function value<T>(r: RpcResult<T>): T {
  if (!r.ok) throw new Error(`expected a value, got ${JSON.stringify(r.error)}`);
  return r.value;
}

/** The refusal's code, and a check that its status is the one HTTP gives the code. */
function refusal(r: RpcResult<unknown>): string {
  if (r.ok) throw new Error(`expected a refusal, got ${JSON.stringify(r.value)}`);
  expect(r.error.status).toBe(statusOf(r.error.code));
  expect(typeof r.error.message).toBe("string");
  return r.error.code;
}

describe("RPC tickets", () => {
  it("seals and opens with the answers HTTP gives, and opens what HTTP sealed", async () => {
    const { rpc, http, site } = isolate();
    const sealed = value(await rpc.sealTicket("alpha-tickets", { session: SESSION, lifetime: 600 }));
    expect(sealed).toMatchObject({ format: "binary", issued_at: T0, expires_at: T0 + 600, lifetime_hint: 600 });
    site.now += 10;
    const overRpc = value(await rpc.openTicket("alpha-tickets", { ticket: sealed.ticket, server_name: "Resume.Example-A.com" }));
    const overHttp = await http("POST", "/v1/tickets/open", "alpha-tickets", { ticket: sealed.ticket, server_name: "Resume.Example-A.com" });
    expect(overHttp.status).toBe(200);
    expect(overRpc).toEqual(overHttp.body);
    expect(overRpc.session).toMatchObject({ ...TLS12_SESSION, created_at: T0, timeout: 600 });

    // The other way round, and the bytes of a binary ticket as they are.
    const fromHttp = await http("POST", "/v1/tickets", "alpha-tickets", { session: SESSION, format: "jwe" });
    expect(value(await rpc.openTicket("alpha-tickets", { ticket: fromHttp.body.ticket })).format).toBe("jwe");
    expect(value(await rpc.openTicket("alpha-tickets", { ticket: decodeBase64url(sealed.ticket)! })).session_id).toBe(sealed.session_id);
  });

  it("is one single-use record with HTTP: a ticket opened over one is replayed over the other", async () => {
    const { rpc, http } = isolate();
    const a = value(await rpc.sealTicket("alpha-tickets", { session: SESSION, single_use: true }));
    expect((await http("POST", "/v1/tickets/open", "alpha-tickets", { ticket: a.ticket })).status).toBe(200);
    expect(refusal(await rpc.openTicket("alpha-tickets", { ticket: a.ticket }))).toBe("ticket_replayed");
    const b = value(await rpc.sealTicket("alpha-tickets", { session: SESSION, single_use: true }));
    expect(value(await rpc.openTicket("alpha-tickets", { ticket: b.ticket })).single_use).toBe(true);
    const again = await http("POST", "/v1/tickets/open", "alpha-tickets", { ticket: b.ticket });
    expect([again.status, again.body.error.code]).toEqual([422, "ticket_replayed"]);
  });

  it("authorizes per context and scope, as HTTP does", async () => {
    const { rpc } = isolate();
    const { ticket } = value(await rpc.sealTicket("alpha-tickets", { session: SESSION }));
    // Another context's token: its subkey does not open alpha's ticket.
    expect(refusal(await rpc.openTicket("beta-all", { ticket }))).toBe("ticket_invalid");
    // A token without the scope, an unknown token, none at all, not a string.
    expect(refusal(await rpc.openTicket("alpha-sessions", { ticket }))).toBe("forbidden");
    expect(refusal(await rpc.sealTicket("alpha-keys", { session: SESSION }))).toBe("forbidden");
    for (const token of ["not-a-token", "", undefined, 42, { token: "alpha-tickets" }]) {
      expect(refusal(await rpc.openTicket(token as string, { ticket })), JSON.stringify(token)).toBe("unauthorized");
    }
    // A token with a space or a newline cannot smuggle anything into the header it stands for.
    expect(refusal(await rpc.openTicket("alpha-tickets extra", { ticket }))).toBe("unauthorized");
  });

  it("takes a JWT where an issuer listens on authorization, with its checks and grants", async () => {
    const { rpc, site } = isolate();
    const jwt = await sign({ sub: "edge-fra" });
    const { ticket } = value(await rpc.sealTicket(jwt, { session: SESSION }));
    expect(value(await rpc.openTicket(jwt, { ticket })).source).toBe("ticket");
    expect(site.lines.at(-1)).toMatchObject({ event: "rpc", method: "openTicket", status: 200, context: "alpha", auth: "jwt:mesh" });
    expect(refusal(await rpc.openTicket(await sign({ sub: "edge-fra" }, { iat: T0 - 7200 }), { ticket }))).toBe("token_expired");
    expect(JSON.stringify(site.lines)).not.toContain(jwt);
    expect(JSON.stringify(site.lines)).not.toContain(PII);
  });

  it("validates the input with the route's schema and bounds", async () => {
    const { rpc } = isolate();
    const cyclic: Record<string, unknown> = { ticket: "AQ" };
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [{}, "invalid_request"],
      [{ ticket: 42 }, "invalid_request"],
      [{ ticket: "AQ", extra: true }, "invalid_request"],
      [null, "invalid_request"],
      [["AQ"], "invalid_request"],
      [cyclic, "invalid_json"],
      [{ ticket: "AQ", server_name: 10n }, "invalid_json"],
      [{ ticket: "A".repeat(70_000) }, "body_too_large"],
      [{ ticket: "not base64url!" }, "ticket_malformed"],
      [{ ticket: "AQAAAAA" }, "ticket_malformed"],
    ];
    for (const [input, code] of cases) {
      const r = await rpc.openTicket("alpha-tickets", input as never);
      expect(refusal(r), String(code)).toBe(code);
    }
    const r = await rpc.openTicket("alpha-tickets", { ticket: 42 } as never);
    expect(r.ok ? undefined : r.error.field).toBe("ticket");
    expect(refusal(await rpc.sealTicket("alpha-tickets", { session: { ...SESSION, master_secret: "short" } }))).toBe("session_invalid");
  });

  it("answers the checks of an open (server name, expiry) with their codes, and faults with retry_after", async () => {
    const { rpc, site } = isolate();
    const { ticket } = value(await rpc.sealTicket("alpha-tickets", { session: SESSION, lifetime: 60, single_use: true }));
    expect(refusal(await rpc.openTicket("alpha-tickets", { ticket, server_name: "other.example.com" }))).toBe("sni_mismatch");
    const down = isolate({ REPLAY_GUARD: unreachableGuard });
    down.site.now = site.now;
    const fault = await down.rpc.openTicket("alpha-tickets", { ticket });
    expect(refusal(fault)).toBe("replay_guard_unavailable");
    expect(fault.ok ? undefined : fault.error.retry_after).toBe(1);
    site.now += 61;
    expect(refusal(await rpc.openTicket("alpha-tickets", { ticket }))).toBe("ticket_expired");
  });

  it("logs one line per call, with no token, ticket or secret", async () => {
    const { rpc, site } = isolate();
    const sealed = value(await rpc.sealTicket("alpha-tickets", { session: SESSION }));
    await rpc.openTicket("alpha-tickets", { ticket: sealed.ticket });
    await rpc.openTicket("nope-token", { ticket: sealed.ticket });
    expect(site.lines.map((l) => [l.method, l.status, l.code ?? null, l.auth ?? null])).toEqual([
      ["sealTicket", 201, null, "token"],
      ["openTicket", 200, null, "token"],
      ["openTicket", 401, "unauthorized", null],
    ]);
    const text = JSON.stringify(site.lines);
    for (const secret of ["alpha-tickets", "nope-token", sealed.ticket, TLS12_SESSION.master_secret]) expect(text).not.toContain(secret);
  });
});

describe("RPC sessions", () => {
  const ID = "ab".repeat(16);

  it("stores, fetches and deletes as HTTP does, in the caller's context only", async () => {
    const { rpc, http, site } = isolate();
    const stored = value(await rpc.putSession("alpha-sessions", ID, { session: SESSION, timeout: 120 }));
    expect(stored).toEqual({ session_id: ID, created_at: T0, expires_at: T0 + 120 });
    const overHttp = await http("GET", `/v1/sessions/${ID}`, "alpha-sessions");
    const overRpc = value(await rpc.getSession("alpha-sessions", ID));
    expect(overRpc).toEqual(overHttp.body);
    expect(overRpc.session.master_secret).toBe(TLS12_SESSION.master_secret);
    // Another context does not see it.
    expect(refusal(await rpc.getSession("beta-all", ID))).toBe("session_not_found");
    // Another session under the id: 409, as PUT answers.
    expect(refusal(await rpc.putSession("alpha-sessions", ID, { session: { ...SESSION, master_secret: TLS12_SESSION.master_secret.replace("AAEC", "BBEC") } }))).toBe(
      "session_exists",
    );
    // In the second of the store KV cannot take the delete yet: pending, as HTTP's 202; a second on, removed (204).
    expect(value(await rpc.deleteSession("alpha-sessions", ID))).toEqual({ outcome: "pending" });
    expect(refusal(await rpc.getSession("alpha-sessions", ID))).toBe("session_not_found");
    value(await rpc.putSession("alpha-sessions", "cd".repeat(16), { session: SESSION }));
    site.now += 2;
    expect(value(await rpc.deleteSession("alpha-sessions", "cd".repeat(16)))).toEqual({ outcome: "removed" });
    expect(refusal(await rpc.getSession("alpha-sessions", ID))).toBe("session_not_found");
  });

  it("refuses what HTTP refuses: bad ids, a context without the store, the wrong scope", async () => {
    const { rpc } = isolate();
    for (const id of ["", "ABCD", "abc", "ab".repeat(33), 7]) expect(refusal(await rpc.getSession("alpha-sessions", id as string)), String(id)).toBe("invalid_session_id");
    expect(refusal(await rpc.putSession("sess-off", ID, { session: SESSION }))).toBe("cache_disabled");
    expect(refusal(await rpc.getSession("alpha-tickets", ID))).toBe("forbidden");
    expect(refusal(await rpc.putSession("alpha-sessions", ID, { session: SESSION, timeout: 0 }))).toBe("invalid_request");
  });
});
