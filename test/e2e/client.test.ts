/**
 * The typed client against the real worker (Miniflare, test/e2e/service.ts):
 * one call per route, with the answers and error codes the service gives.
 */
import { compactDecrypt, importJWK } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResumptionClient, type Result } from "../../src/client/index.js";
import { startService, type Service } from "./service.js";

let service: Service | undefined;
let c: ResumptionClient;
let ticketsOnly: ResumptionClient;

const SESSION = {
  version: "TLSv1.2" as const,
  cipher_suite: 49195,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
  server_name: "resume.test",
};

function value<T>(r: Result<T>): T {
  if (!r.ok) throw r.error;
  return r.value;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A write to the same key within a second is write_rate_limited (KV's one write a second per key): wait as told, once. */
async function write<T>(call: () => Promise<Result<T>>): Promise<Result<T>> {
  const r = await call();
  if (r.ok || r.error.code !== "write_rate_limited") return r;
  await sleep((r.error.retryAfter ?? 1) * 1000);
  return call();
}

beforeAll(async () => {
  service = await startService({
    contexts: { default: { cache_mode: "both" } },
    grants: { all: { scopes: ["tickets", "sessions", "keys", "admin", "stek"] }, tickets: { scopes: ["tickets"] } },
  });
  // A generous deadline: these tests are about the answers, not latency (test/node/client.test.ts covers the deadline).
  c = new ResumptionClient({ baseUrl: service.url, token: service.tokens.all!, timeout: 5000 });
  ticketsOnly = new ResumptionClient({ baseUrl: service.url, token: service.tokens.tickets!, timeout: 5000 });
});

afterAll(async () => {
  await service?.stop();
});

describe("the client against the worker", () => {
  it("tickets: seal, open, and a ticket that cannot be resumed", async () => {
    const sealed = value(await c.sealTicket({ session: SESSION, lifetime: 600 }));
    expect(sealed.lifetime_hint).toBe(600);
    const opened = value(await c.openTicket(sealed.ticket, { server_name: "resume.test" }));
    expect([opened.session_id, opened.session.master_secret, opened.renew]).toEqual([sealed.session_id, SESSION.master_secret, false]);
    const bad = await c.openTicket("AQID");
    expect(!bad.ok && [bad.error.status, bad.error.code]).toEqual([422, "ticket_malformed"]);
  });

  it("JWE tickets: sealed by the service, opened by plain jose in Node with the exported JWK Set, and back", async () => {
    const sealed = value(await c.sealTicket({ session: SESSION, lifetime: 600, format: "jwe" }));
    expect(sealed.format).toBe("jwe");
    const jwks = value(await c.exportJwk());
    const jwk = jwks.keys.find((k) => k.kid === String(sealed.key_id))!;
    const { plaintext } = await compactDecrypt(sealed.ticket, await importJWK(jwk, "A256GCM"));
    expect(JSON.parse(new TextDecoder().decode(plaintext)).session.master_secret).toBe(SESSION.master_secret);
    const opened = value(await c.openTicket(sealed.ticket, { server_name: "resume.test" }));
    expect([opened.format, opened.session_id]).toEqual(["jwe", sealed.session_id]);
    const forbidden = await ticketsOnly.exportJwk();
    expect(!forbidden.ok && [forbidden.error.status, forbidden.error.code]).toEqual([403, "forbidden"]);
  });

  it("keys: the ring, the export in each format, a rotation; scopes are enforced", async () => {
    const ring = value(await c.getKeys());
    expect(ring.keys.map((k) => k.state)).toEqual(["active", "pending"]);
    for (const [format, bytes] of [["nginx80", 80], ["nginx48", 48], ["haproxy", 80], ["node48", 48], ["go", 32]] as const) {
      const out = value(await c.exportKeys(format));
      expect([out.format, out.key_bytes]).toEqual([format, bytes]);
      expect(out.keys.filter((k) => k.role === "encrypt").map((k) => k.id)).toEqual([ring.keys[0]!.id]);
    }
    const forbidden = await ticketsOnly.exportKeys("nginx80");
    expect(!forbidden.ok && [forbidden.error.status, forbidden.error.code]).toEqual([403, "forbidden"]);
    const rotated = value(await c.rotateKeys());
    // The successor was published moments ago: it takes over once prepublish_lead has passed.
    expect(rotated.activates_at).toBeGreaterThan(rotated.now);
  });

  it("sessions by id: put, get, head, delete; create; a conflicting put", async () => {
    const id = "0123456789abcdef";
    const stored = value(await c.putSession(id, { opaque: "AAECAw", server_name: "resume.test" }, { timeout: 120 }));
    expect(stored.expires_at - stored.created_at).toBe(120);
    const got = value(await c.getSession(Buffer.from(id, "hex")));
    expect([got.session_id, got.session.opaque, got.session.server_name]).toEqual([id, "AAECAw", "resume.test"]);
    expect(value(await c.hasSession(id))).toBe(true);
    const conflict = await write(() => c.putSession(id, { opaque: "BBBB" }));
    expect(!conflict.ok && [conflict.error.status, conflict.error.code]).toEqual([409, "session_exists"]);
    expect((await write(() => c.deleteSession(id))).ok).toBe(true);
    expect(value(await c.hasSession(id))).toBe(false);
    const gone = await c.getSession(id);
    expect(!gone.ok && [gone.error.status, gone.error.code]).toEqual([404, "session_not_found"]);

    const created = value(await c.createSession({ opaque: "AAECAw" }));
    expect(created.session_id).toMatch(/^([0-9a-f]{2}){1,32}$/);
    expect(value(await c.getSession(created.session_id)).session.opaque).toBe("AAECAw");
  });

  it("take: get and delete at once, exactly once", async () => {
    const created = value(await c.createSession({ opaque: "AAECAw" }));
    const taken = value(await c.takeSession(created.session_id));
    expect(taken.session.opaque).toBe("AAECAw");
    const again = await c.takeSession(created.session_id);
    expect(!again.ok && [again.error.status, again.error.code]).toEqual([404, "session_not_found"]);
  });

  it("client sessions by peer: put, get, head, delete", async () => {
    const peer = "origin.example:443/sni.example";
    const put = value(await c.putClientSession(peer, { opaque: "AAECAw" }));
    expect(put.peer).toBe(peer);
    expect(value(await c.getClientSession(peer)).session.opaque).toBe("AAECAw");
    expect(value(await c.hasClientSession(peer))).toBe(true);
    expect((await write(() => c.deleteClientSession(peer))).ok).toBe(true);
    expect(value(await c.hasClientSession(peer))).toBe(false);
    const bad = await c.getClientSession("Origin.example:443");
    expect(!bad.ok && [bad.error.status, bad.error.code]).toEqual([400, "invalid_peer"]);
  });

  it("admin: stats and flush", async () => {
    const stats = value(await c.stats());
    expect(stats.context).toBe("default");
    // flush with before: 0 empties this isolate's internal cache (the local
    // service is one isolate): a session just stored is in it, and a second
    // flush finds nothing left.
    await write(() => c.createSession({ opaque: "AAECAw" }));
    expect(value(await c.stats()).sess_number).toBeGreaterThanOrEqual(1);
    const flushed = value(await c.flushSessions({ before: 0 }));
    expect(flushed.flushed).toBeGreaterThanOrEqual(1);
    expect(value(await c.flushSessions({ before: 0 })).flushed).toBe(0);
    expect(value(await c.stats()).sess_number).toBe(0);
  });
});
