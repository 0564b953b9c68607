/**
 * Tenancy: for every ordered pair of contexts A ≠ B, A's token cannot open
 * B's tickets, read, take, delete or overwrite B's sessions, see B's stats or
 * derive B's ticket keys, and B's records in KV do not open under A's
 * storage key. Each token acts in exactly one context.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { HKDF_LABEL, deriveAesGcmKey, decodeHex, importHkdfKey } from "../../src/core/index.js";
import { storageKey } from "../../src/store/external.js";
import { openRecord, readRecordHeader } from "../../src/store/records.js";
import { TEST_MASTER_KEY, type TestToken } from "./fixtures.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

/** Contexts with a server-side store, each with a token holding every scope it needs. */
const TENANTS: { context: string; token: TestToken }[] = [
  { context: "alpha", token: "alpha-all" },
  { context: "beta", token: "beta-all" },
  { context: "sess-both", token: "sess-both" },
];

const PAIRS = TENANTS.flatMap((a) => TENANTS.filter((b) => b !== a).map((b) => [a, b] as const));

const A_SESSION = { ...TLS12_SESSION, master_secret: TLS12_SESSION.master_secret.replace("AAEC", "AAAA") };

let n = 0;
const uniqueId = () => (++n).toString(16).padStart(4, "0") + "7e4a".repeat(6);

async function storeKey(context: string): Promise<CryptoKey> {
  return deriveAesGcmKey(await importHkdfKey(decodeHex(TEST_MASTER_KEY)!), HKDF_LABEL.sessionStore, context);
}

describe.each(PAIRS.map(([a, b]) => [`${a.context} against ${b.context}`, a, b] as const))("%s", (_, a, b) => {
  const call = (loc: Location, token: TestToken, method: string, path: string, body?: unknown) => loc.json(method, path, { token, body });

  it("cannot open the other's tickets", async () => {
    const loc = location();
    for (const format of ["binary", "jwe"]) {
      const sealed = await call(loc, b.token, "POST", "/v1/tickets", { session: TLS12_SESSION, store: true, format });
      expect(sealed.status).toBe(201);
      const res = await call(loc, a.token, "POST", "/v1/tickets/open", { ticket: sealed.body.ticket });
      // A binary ticket names no context in clear: it simply fails authentication under A's key.
      expect([res.status, res.body.error.code]).toEqual([422, format === "jwe" ? "context_mismatch" : "ticket_invalid"]);
      expect(JSON.stringify(res.body)).not.toContain(TLS12_SESSION.master_secret);
      // The other can.
      expect((await call(loc, b.token, "POST", "/v1/tickets/open", { ticket: sealed.body.ticket })).status).toBe(200);
    }
  });

  it("cannot read, take, delete or overwrite the other's sessions", async () => {
    const loc = location();
    const id = uniqueId();
    expect((await call(loc, b.token, "PUT", `/v1/sessions/${id}`, { session: TLS12_SESSION })).status).toBe(201);
    loc.now = T0 + 2;
    expect((await call(loc, a.token, "GET", `/v1/sessions/${id}`)).status).toBe(404);
    expect((await loc.call("HEAD", `/v1/sessions/${id}`, { token: a.token })).status).toBe(404);
    expect((await call(loc, a.token, "POST", `/v1/sessions/${id}/take`)).status).toBe(404);
    expect((await loc.call("DELETE", `/v1/sessions/${id}`, { token: a.token })).status).toBe(204);
    loc.now = T0 + 4;
    // A PUT under the same id stores A's own session, in A's namespace.
    expect((await call(loc, a.token, "PUT", `/v1/sessions/${id}`, { session: A_SESSION })).status).toBe(201);
    loc.now = T0 + 6;
    for (const observer of [loc, location(T0 + 6)]) {
      const theirs = await call(observer, b.token, "GET", `/v1/sessions/${id}`);
      expect([theirs.status, theirs.body.session.master_secret]).toEqual([200, TLS12_SESSION.master_secret]);
      const mine = await call(observer, a.token, "GET", `/v1/sessions/${id}`);
      expect([mine.status, mine.body.session.master_secret]).toEqual([200, A_SESSION.master_secret]);
    }
  });

  it("sees only its own stats", async () => {
    const loc = location();
    const before = (await call(loc, a.token, "GET", "/v1/stats")).body;
    expect(before.context).toBe(a.context);
    const id = uniqueId();
    await call(loc, b.token, "PUT", `/v1/sessions/${id}`, { session: TLS12_SESSION });
    loc.now = T0 + 2;
    await call(loc, b.token, "GET", `/v1/sessions/${id}`);
    await call(loc, b.token, "GET", `/v1/sessions/${uniqueId()}`);
    const after = (await call(loc, a.token, "GET", "/v1/stats")).body;
    for (const counter of ["sess_number", "sess_hits", "sess_misses", "sess_cb_hits", "sess_cb_misses"]) {
      expect(after[counter], counter).toBe(before[counter]);
    }
    const theirs = (await call(loc, b.token, "GET", "/v1/stats")).body;
    expect(theirs.context).toBe(b.context);
    expect(theirs.sess_hits).toBeGreaterThan(0);
  });

  it("cannot decrypt the other's records in KV with its own storage key", async () => {
    const loc = location();
    const id = uniqueId();
    expect((await call(loc, b.token, "PUT", `/v1/sessions/${id}`, { session: TLS12_SESSION })).status).toBe(201);
    const raw = await env.SESSIONS.get(await storageKey("server", b.context, id), "arrayBuffer");
    const bytes = new Uint8Array(raw!);
    const header = readRecordHeader(bytes)!;
    const [keyA, keyB] = await Promise.all([storeKey(a.context), storeKey(b.context)]);
    // Under A's key, whatever the AAD claims.
    expect(await openRecord(keyA, "server", a.context, id, bytes, header)).toBeUndefined();
    expect(await openRecord(keyA, "server", b.context, id, bytes, header)).toBeUndefined();
    // B's key under A's name fails too (the context is in the AAD); B's key and name open it.
    expect(await openRecord(keyB, "server", a.context, id, bytes, header)).toBeUndefined();
    expect(await openRecord(keyB, "server", b.context, id, bytes, header)).toBeDefined();
  });
});

describe("exported ticket keys", () => {
  it("differ between contexts: one tenant's terminators cannot open another's tickets", async () => {
    const loc = location();
    const alpha = await loc.json("GET", "/v1/keys/export?format=nginx80", { token: "alpha-all" });
    const beta = await loc.json("GET", "/v1/keys/export?format=nginx80", { token: "beta-all" });
    expect([alpha.status, beta.status]).toEqual([200, 200]);
    const keysOf = (body: { keys: { key: string }[] }) => body.keys.map((k) => k.key);
    expect(keysOf(alpha.body).length).toBeGreaterThan(0);
    for (const key of keysOf(alpha.body)) expect(keysOf(beta.body)).not.toContain(key);
  });
});
