/**
 * The session store's routes over HTTP: every route and status, id
 * generation, the client-side cache, expiry under KV's 60 s floor,
 * encryption at rest and KV faults (the ticket fallback: store-fallback.test.ts).
 * KV is shared by the tests of this file: every test uses its own ids.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { storageKey } from "../../src/store/external.js";
import { failingKv, readOnlyKv } from "./faults.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

let counter = 0;
/** A session id no other test uses: a per-file counter in 4 bytes, with a random tail. */
function uid(bytes = 8): string {
  counter++;
  const tail = Array.from(crypto.getRandomValues(new Uint8Array(bytes - 4)), (b) => b.toString(16).padStart(2, "0")).join("");
  return counter.toString(16).padStart(8, "0") + tail;
}

const OTHER_SESSION = { ...TLS12_SESSION, master_secret: "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3" };

const put = (loc: Location, id: string, body: object = { session: TLS12_SESSION }, token = "alpha-sessions") =>
  loc.json("PUT", `/v1/sessions/${id}`, { token, body });
const get = (loc: Location, id: string, token = "alpha-sessions") => loc.json("GET", `/v1/sessions/${id}`, { token });
const del = (loc: Location, id: string, token = "alpha-sessions") => loc.call("DELETE", `/v1/sessions/${id}`, { token });
const stats = async (loc: Location, token = "alpha-all") => (await loc.json("GET", "/v1/stats", { token })).body;

describe("server sessions by id", () => {
  it("stores, finds, answers HEAD, deletes idempotently", async () => {
    const loc = location();
    const id = uid();
    const stored = await put(loc, id);
    expect(stored.status).toBe(201);
    expect(stored.body).toEqual({ session_id: id, created_at: T0, expires_at: T0 + 300 });

    loc.now = T0 + 10;
    const found = await get(loc, id);
    expect(found.status).toBe(200);
    expect(found.body).toEqual({
      session: { ...TLS12_SESSION, encrypt_then_mac: false, created_at: T0, timeout: 300 },
      session_id: id,
      created_at: T0,
      expires_at: T0 + 300,
    });
    const head = await loc.call("HEAD", `/v1/sessions/${id}`, { token: "alpha-sessions" });
    expect([head.status, await head.text()]).toEqual([200, ""]);

    expect((await del(loc, id)).status).toBe(204);
    // Again in the same second (nothing left to write) and a second later (KV is asked again).
    expect((await del(loc, id)).status).toBe(204);
    loc.now++;
    expect((await del(loc, id)).status).toBe(204);

    const gone = await get(loc, id);
    expect([gone.status, gone.body.error.code]).toEqual([404, "session_not_found"]);
    const headGone = await loc.call("HEAD", `/v1/sessions/${id}`, { token: "alpha-sessions" });
    expect([headGone.status, await headGone.text()]).toEqual([404, ""]);
    // And from another location, which never had it in its internal cache.
    expect((await get(location(loc.now), id)).status).toBe(404);
  });

  it("is fleet-wide: another location finds the session in KV", async () => {
    const paris = location();
    const id = uid();
    await put(paris, id);
    const tokyo = location(T0 + 1);
    const found = await get(tokyo, id);
    expect([found.status, found.body.session_id]).toEqual([200, id]);
    expect(await stats(tokyo)).toMatchObject({ sess_hits: 1, sess_cb_hits: 1, sess_misses: 1, sess_number: 1 });
  });

  it("stores a session once: the same session again is 201, another under the same id is 409", async () => {
    const loc = location();
    const id = uid();
    expect((await put(loc, id)).status).toBe(201);
    // A retry a second later, without created_at: the same session; the first times stand.
    loc.now = T0 + 1;
    const again = await put(loc, id);
    expect([again.status, again.body.created_at, again.body.expires_at]).toEqual([201, T0, T0 + 300]);
    const other = location(T0 + 2);
    const clash = await put(other, id, { session: OTHER_SESSION });
    expect([clash.status, clash.body.error.code]).toEqual([409, "session_exists"]);
    expect(JSON.stringify(clash.body)).not.toContain(OTHER_SESSION.master_secret);
    // Once deleted, the id is free again.
    expect((await del(other, id)).status).toBe(204);
    other.now++;
    expect((await put(other, id, { session: OTHER_SESSION })).status).toBe(201);
  });

  it("generates ids: 32 random bytes by default, or id_length bytes after the context's id_prefix", async () => {
    const loc = location();
    const a = await loc.json("POST", "/v1/sessions", { token: "alpha-sessions", body: { session: TLS12_SESSION } });
    expect(a.status).toBe(201);
    expect(a.body.session_id).toMatch(/^[0-9a-f]{64}$/);
    expect(a.body).toMatchObject({ created_at: T0, expires_at: T0 + 300 });
    expect((await get(loc, a.body.session_id)).status).toBe(200);

    // "www-18" as in the OpenSSL manual's example, in 16-byte ids.
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const r = await loc.json("POST", "/v1/sessions", { token: "sess-host", body: { session: TLS12_SESSION } });
      expect(r.status).toBe(201);
      expect(r.body.session_id).toMatch(/^7777772d3138[0-9a-f]{20}$/);
      ids.add(r.body.session_id);
    }
    expect(ids.size).toBe(5);
    expect((await get(loc, [...ids][0]!, "sess-host")).status).toBe(200);
  });

  it("gives up after 10 attempts when the prefix leaves one possible id", async () => {
    const loc = location();
    // id_length 1, prefix "ab": every candidate is "ab".
    const first = await loc.json("POST", "/v1/sessions", { token: "sess-prefix1", body: { session: TLS12_SESSION } });
    expect([first.status, first.body.session_id]).toEqual([201, "ab"]);
    const res = await loc.call("POST", "/v1/sessions", { token: "sess-prefix1", body: { session: OTHER_SESSION } });
    expect(res.status).toBe(503);
    expect(((await res.json()) as any).error.code).toBe("id_generation_failed");
    // Failed cleanly: the stored session is untouched.
    const kept = await get(location(T0 + 1), "ab", "sess-prefix1");
    expect(kept.body.session.master_secret).toBe(TLS12_SESSION.master_secret);
  });

  it("takes the timeout from the body, else the session, else the context", async () => {
    const loc = location();
    const [a, b, c] = [uid(), uid(), uid()];
    expect((await put(loc, a)).body.expires_at).toBe(T0 + 300);
    expect((await put(loc, b, { session: { ...TLS12_SESSION, timeout: 120 } })).body.expires_at).toBe(T0 + 120);
    const both = await put(loc, c, { session: { ...TLS12_SESSION, timeout: 120 }, timeout: 30 });
    expect(both.body.expires_at).toBe(T0 + 30);
    // The stored session carries the effective timeout.
    expect((await get(loc, c)).body.session.timeout).toBe(30);
    // Counted from the session's created_at, when it is in the past.
    const d = uid();
    const old = await put(loc, d, { session: { ...TLS12_SESSION, created_at: T0 - 100 }, timeout: 150 });
    expect(old.body).toMatchObject({ created_at: T0 - 100, expires_at: T0 + 50 });
    const expired = await put(loc, uid(), { session: { ...TLS12_SESSION, created_at: T0 - 100 }, timeout: 100 });
    expect([expired.status, expired.body.error.code, expired.body.error.field]).toEqual([400, "session_invalid", "session.created_at"]);
  });

  it("honours timeouts under KV's 60 s floor: readable at +4, gone at +5, with the KV record still there", async () => {
    const loc = location();
    const id = uid();
    expect((await put(loc, id, { session: TLS12_SESSION, timeout: 5 })).body.expires_at).toBe(T0 + 5);
    const key = await storageKey("server", "alpha", id);
    // KV was asked to keep it at least 60 s (its minimum), in real time.
    const listed = await env.SESSIONS.list({ prefix: key });
    expect(listed.keys[0]!.expiration! - Math.floor(Date.now() / 1000)).toBeGreaterThanOrEqual(58);

    loc.now = T0 + 4;
    expect((await get(loc, id)).status).toBe(200);
    expect((await get(location(T0 + 4), id)).status).toBe(200);
    loc.now = T0 + 5;
    expect((await get(loc, id)).status).toBe(404);
    const fresh = location(T0 + 5);
    expect((await get(fresh, id)).status).toBe(404);
    expect(await stats(fresh)).toMatchObject({ sess_timeouts: 1, sess_hits: 0 });
    expect(await env.SESSIONS.get(key, "arrayBuffer")).not.toBeNull();
  });

  it("encrypts records at rest: a record copied to another id or context does not open (404, never 500)", async () => {
    const loc = location();
    const id = uid();
    await put(loc, id);
    const raw = await env.SESSIONS.get(await storageKey("server", "alpha", id), "arrayBuffer");
    expect(raw).not.toBeNull();
    const bytes = new Uint8Array(raw!);
    // No master secret in clear.
    const secret = Uint8Array.from(atob(TLS12_SESSION.master_secret.replace(/-/g, "+").replace(/_/g, "/")), (ch) => ch.charCodeAt(0));
    expect(Buffer.from(bytes).includes(Buffer.from(secret))).toBe(false);

    const otherId = uid();
    await env.SESSIONS.put(await storageKey("server", "alpha", otherId), bytes);
    await env.SESSIONS.put(await storageKey("server", "beta", id), bytes);
    const fresh = location(T0 + 1);
    expect((await get(fresh, otherId)).status).toBe(404);
    expect((await get(fresh, id, "beta-all")).status).toBe(404);
    // Tampered, truncated, garbage: all simply not found.
    const tampered = uid();
    const flipped = bytes.slice();
    flipped[flipped.length - 1]! ^= 1;
    await env.SESSIONS.put(await storageKey("server", "alpha", tampered), flipped);
    const garbage = uid();
    await env.SESSIONS.put(await storageKey("server", "alpha", garbage), "not a record");
    for (const bad of [tampered, garbage]) expect((await get(fresh, bad)).status).toBe(404);
    // The original still opens where it belongs.
    expect((await get(fresh, id)).status).toBe(200);
  });

  it("checks ids, tokens, scopes and bodies", async () => {
    const loc = location();
    const id = uid();
    const cases: [string, string, { token?: string; body?: unknown; headers?: Record<string, string> }, number, string][] = [
      ["GET", "/v1/sessions/ABCD", { token: "alpha-sessions" }, 400, "invalid_session_id"],
      ["GET", "/v1/sessions/abc", { token: "alpha-sessions" }, 400, "invalid_session_id"],
      ["GET", "/v1/sessions/zz", { token: "alpha-sessions" }, 400, "invalid_session_id"],
      ["GET", `/v1/sessions/${"ab".repeat(33)}`, { token: "alpha-sessions" }, 400, "invalid_session_id"],
      ["DELETE", "/v1/sessions/%20ab", { token: "alpha-sessions" }, 400, "invalid_session_id"],
      ["PUT", "/v1/sessions/flush", { token: "alpha-sessions", body: { session: TLS12_SESSION } }, 400, "invalid_session_id"],
      ["GET", `/v1/sessions/${id}`, {}, 401, "unauthorized"],
      ["GET", `/v1/sessions/${id}`, { token: "alpha-tickets" }, 403, "forbidden"],
      ["GET", "/v1/stats", { token: "alpha-sessions" }, 403, "forbidden"],
      ["POST", "/v1/sessions/flush", { token: "alpha-sessions" }, 403, "forbidden"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: "{nope" }, 400, "invalid_json"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: {} }, 400, "invalid_request"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION, extra: 1 } }, 400, "invalid_request"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION, timeout: 0 } }, 400, "invalid_request"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION, timeout: 604_801 } }, 400, "invalid_request"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: { ...TLS12_SESSION, master_secret: "AAAA" } } }, 400, "session_invalid"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: { ...TLS12_SESSION, session_id: id } } }, 400, "session_invalid"],
      ["PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION, pad: "x".repeat(70_000) } }, 413, "body_too_large"],
      ["POST", "/v1/sessions", { token: "alpha-sessions", body: "{}", headers: { "content-type": "text/plain" } }, 415, "unsupported_media_type"],
      ["POST", "/v1/sessions/flush", { token: "alpha-all", body: { before: -1 } }, 400, "invalid_request"],
    ];
    for (const [method, path, options, status, code] of cases) {
      const res = await loc.call(method, path, options);
      const text = await res.text();
      const got = { method, path: path.slice(0, 40), status: res.status, code: text ? JSON.parse(text).error?.code : undefined };
      expect(got).toEqual({ method, path: path.slice(0, 40), status, code });
    }
    // Nothing was stored by any of them.
    expect((await get(loc, id)).status).toBe(404);
  });
});

describe("cache modes", () => {
  it("off: session routes answer 409 cache_disabled; tickets still work, but not store: true", async () => {
    const loc = location();
    const id = uid();
    for (const [method, path, body] of [
      ["PUT", `/v1/sessions/${id}`, { session: TLS12_SESSION }],
      ["POST", "/v1/sessions", { session: TLS12_SESSION }],
      ["GET", `/v1/sessions/${id}`, undefined],
      ["DELETE", `/v1/sessions/${id}`, undefined],
      ["PUT", "/v1/client-sessions/origin.example.com:443", { session: TLS12_SESSION }],
      ["GET", "/v1/client-sessions/origin.example.com:443", undefined],
      ["POST", "/v1/sessions/flush", undefined],
    ] as const) {
      const res = await loc.json(method, path, { token: "sess-off", body });
      expect({ method, path, status: res.status, code: res.body.error.code }).toEqual({ method, path, status: 409, code: "cache_disabled" });
    }
    const sealed = await loc.json("POST", "/v1/tickets", { token: "sess-off", body: { session: TLS12_SESSION } });
    expect(sealed.status).toBe(201);
    const opened = await loc.json("POST", "/v1/tickets/open", { token: "sess-off", body: { ticket: sealed.body.ticket } });
    expect([opened.status, opened.body.source]).toEqual([200, "ticket"]);
    const withStore = await loc.json("POST", "/v1/tickets", { token: "sess-off", body: { session: TLS12_SESSION, store: true } });
    expect([withStore.status, withStore.body.error.code]).toEqual([409, "cache_disabled"]);
    // Stats still answer.
    expect(await stats(loc, "sess-off")).toMatchObject({ context: "sess-off", cache_mode: "off", sess_number: 0 });
  });

  it("client: one location resumes to an origin with a session another location stored", async () => {
    const frankfurt = location();
    const peer = `origin-${uid(4)}.example.com:443`;
    const stored = await frankfurt.json("PUT", `/v1/client-sessions/${peer}`, { token: "sess-client", body: { session: TLS12_SESSION, timeout: 600 } });
    expect(stored.status).toBe(201);
    expect(stored.body).toEqual({ peer, created_at: T0, expires_at: T0 + 600 });

    const madrid = location(T0 + 2);
    const found = await madrid.json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" });
    expect(found.status).toBe(200);
    expect(found.body).toMatchObject({ peer, created_at: T0, expires_at: T0 + 600, session: { master_secret: TLS12_SESSION.master_secret } });
    expect((await madrid.call("HEAD", `/v1/client-sessions/${peer}`, { token: "sess-client" })).status).toBe(200);

    // A newer session for the peer replaces the old one, everywhere.
    frankfurt.now = T0 + 3;
    expect((await frankfurt.json("PUT", `/v1/client-sessions/${peer}`, { token: "sess-client", body: { session: OTHER_SESSION } })).status).toBe(201);
    const newer = await location(T0 + 4).json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" });
    expect(newer.body.session.master_secret).toBe(OTHER_SESSION.master_secret);
    // Twice in one second from one isolate: stored, never refused; KV (one write a second per key)
    // keeps that second's first, this isolate its newest: either resumes.
    const twice = await frankfurt.json("PUT", `/v1/client-sessions/${peer}`, { token: "sess-client", body: { session: TLS12_SESSION } });
    expect(twice.status).toBe(201);
    expect((await frankfurt.json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" })).body.session.master_secret).toBe(TLS12_SESSION.master_secret);
    expect((await location(T0 + 4).json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" })).body.session.master_secret).toBe(OTHER_SESSION.master_secret);

    frankfurt.now = T0 + 5;
    expect((await frankfurt.call("DELETE", `/v1/client-sessions/${peer}`, { token: "sess-client" })).status).toBe(204);
    expect((await location(T0 + 6).json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" })).status).toBe(404);

    // A server-side route in a client-only context, and the reverse.
    const server = await frankfurt.json("GET", `/v1/sessions/${uid()}`, { token: "sess-client" });
    expect([server.status, server.body.error.code]).toEqual([409, "cache_disabled"]);
    const client = await frankfurt.json("GET", `/v1/client-sessions/${peer}`, { token: "alpha-sessions" });
    expect([client.status, client.body.error.code]).toEqual([409, "cache_disabled"]);
  });

  it("client: peers name host:port, plus the SNI when it differs, in one canonical form", async () => {
    const loc = location();
    const tail = uid(4);
    const valid = [
      `origin-${tail}.example.com:443`,
      `10.0.0.1:8443/sni-${tail}.example.com`,
      `[2001:db8::${(parseInt(tail.slice(-4), 16) | 0x1000).toString(16)}]:443/origin.example.com`,
      `origin-${tail}.example.com:443/other.example.com`,
    ];
    for (const peer of valid) {
      const res = await loc.json("PUT", `/v1/client-sessions/${peer}`, { token: "sess-client", body: { session: TLS12_SESSION } });
      expect({ peer, status: res.status }).toEqual({ peer, status: 201 });
      expect((await loc.json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" })).body.peer).toBe(peer);
    }
    // Sessions of distinct peers are distinct.
    const plain = await loc.json("GET", `/v1/client-sessions/10.0.0.1:8443`, { token: "sess-client" });
    expect(plain.status).toBe(404);
    const invalid = [
      "origin.example.com",
      "Origin.example.com:443",
      "origin.example.com:0",
      "origin.example.com:0443",
      "origin.example.com:65536",
      "origin.example.com:443/origin.example.com",
      "origin.example.com:443/10.0.0.1",
      "origin.example.com:443/",
      "10.0.0.256:443",
      "[2001:DB8::1]:443",
      "[2001:db8:0::1]:443",
      "origin_example.com:443",
      `${"a".repeat(64)}.com:443`,
    ];
    for (const peer of invalid) {
      const res = await loc.json("GET", `/v1/client-sessions/${encodeURIComponent(peer).replace(/%3A/g, ":").replace(/%2F/g, "/")}`, { token: "sess-client" });
      expect({ peer, status: res.status, code: res.body.error.code }).toEqual({ peer, status: 400, code: "invalid_peer" });
    }
  });

  it("both: server and client caches side by side", async () => {
    const loc = location();
    const id = uid();
    expect((await put(loc, id, { session: TLS12_SESSION }, "sess-both")).status).toBe(201);
    const peer = `both-${uid(4)}.example.com:443`;
    expect((await loc.json("PUT", `/v1/client-sessions/${peer}`, { token: "sess-both", body: { session: OTHER_SESSION } })).status).toBe(201);
    expect((await get(loc, id, "sess-both")).body.session.master_secret).toBe(TLS12_SESSION.master_secret);
    expect((await loc.json("GET", `/v1/client-sessions/${peer}`, { token: "sess-both" })).body.session.master_secret).toBe(OTHER_SESSION.master_secret);
    const s = await stats(loc, "sess-both");
    expect(s).toMatchObject({ sess_number: 2, sess_hits: 1, client: { sess_hits: 1 } });
  });
});

describe("flush and stats", () => {
  it("flushes the internal cache's expired sessions, or all of them with before: 0", async () => {
    const loc = location();
    const [short, long] = [uid(), uid()];
    await put(loc, short, { session: TLS12_SESSION, timeout: 10 });
    await put(loc, long, { session: TLS12_SESSION, timeout: 100 });
    expect((await stats(loc)).sess_number).toBe(2);
    loc.now = T0 + 10;
    const flushed = await loc.json("POST", "/v1/sessions/flush", { token: "alpha-all" });
    expect([flushed.status, flushed.body]).toEqual([200, { flushed: 1 }]);
    expect((await loc.json("POST", "/v1/sessions/flush", { token: "alpha-all", body: { before: T0 + 100 } })).body).toEqual({ flushed: 1 });
    expect((await stats(loc)).sess_number).toBe(0);
    await get(loc, long);
    expect((await stats(loc)).sess_number).toBe(1);
    expect((await loc.json("POST", "/v1/sessions/flush", { token: "alpha-all", body: { before: 0 } })).body).toEqual({ flushed: 1 });
    // KV is untouched: the flushed session is still there for everyone.
    expect((await get(loc, long)).status).toBe(200);
  });

  it("reports OpenSSL's counters for the caller's context, in this isolate", async () => {
    const loc = location();
    const id = uid();
    await put(loc, id, { session: TLS12_SESSION, timeout: 5 });
    await get(loc, id); // internal hit
    await get(loc, uid()); // miss everywhere
    loc.now = T0 + 5;
    await get(loc, id); // timed out
    const s = await stats(loc);
    expect(s).toMatchObject({
      context: "alpha",
      scope: "isolate",
      cache_mode: "server",
      flags: [],
      sess_cache_size: 20480,
      sess_number: 0,
      sess_hits: 1,
      sess_misses: 2,
      sess_timeouts: 1,
      sess_cache_full: 0,
      sess_cb_hits: 0,
      sess_cb_misses: 2,
      client: { sess_hits: 0, sess_misses: 0, sess_timeouts: 0, sess_cb_hits: 0, sess_cb_misses: 0 },
    });
    expect(s.note).toMatch(/isolate/);
    // Another location's counters are its own.
    expect((await stats(location(T0 + 5))).sess_hits).toBe(0);
  });
});

describe("KV faults", () => {
  it("answer 503 store_unavailable with Retry-After on every session route", async () => {
    const loc = location(T0, { env: { SESSIONS: failingKv } });
    const id = uid();
    const requests: [string, string, string, object | undefined][] = [
      ["PUT", `/v1/sessions/${id}`, "alpha-sessions", { session: TLS12_SESSION }],
      ["POST", "/v1/sessions", "alpha-sessions", { session: TLS12_SESSION }],
      ["GET", `/v1/sessions/${id}`, "alpha-sessions", undefined],
      ["PUT", "/v1/client-sessions/origin.example.com:443", "sess-client", { session: TLS12_SESSION }],
      ["GET", "/v1/client-sessions/origin.example.com:443", "sess-client", undefined],
      ["POST", "/v1/tickets", "alpha-all", { session: TLS12_SESSION, store: true }],
    ];
    for (const [method, path, token, body] of requests) {
      const res = await loc.call(method, path, { token, body });
      const json = (await res.json()) as any;
      expect({ method, path, status: res.status, code: json.error.code, retry: res.headers.get("retry-after") }).toEqual({
        method,
        path,
        status: 503,
        code: "store_unavailable",
        retry: "5",
      });
    }
    const head = await loc.call("HEAD", `/v1/sessions/${id}`, { token: "alpha-sessions" });
    expect([head.status, await head.text()]).toEqual([503, ""]);
    // A purge is never refused: accepted, its KV delete handed to the replay guard (test/worker/purges.test.ts).
    expect((await loc.call("DELETE", `/v1/sessions/${id}`, { token: "alpha-sessions" })).status).toBe(202);
    expect((await loc.call("DELETE", "/v1/client-sessions/origin.example.com:443", { token: "sess-client" })).status).toBe(202);
    // The normal ticket path never touches KV.
    const sealed = await loc.json("POST", "/v1/tickets", { token: "alpha-all", body: { session: TLS12_SESSION } });
    expect(sealed.status).toBe(201);
    expect((await loc.json("POST", "/v1/tickets/open", { token: "alpha-all", body: { ticket: sealed.body.ticket } })).status).toBe(200);
  });

  it("write nothing half-way: a failed write leaves neither cache changed", async () => {
    const healthy = location();
    const kept = uid();
    await put(healthy, kept);
    const broken = location(T0 + 1, { env: { SESSIONS: readOnlyKv } });
    const id = uid();
    expect((await put(broken, id)).status).toBe(503);
    expect((await get(broken, id)).status).toBe(404);
    expect((await stats(broken)).sess_number).toBe(0);
    // A delete KV refuses is a purge all the same: gone from this isolate at once, and
    // handed to the replay guard for KV (test/worker/purges.test.ts runs its alarm).
    expect((await get(broken, kept)).status).toBe(200);
    expect((await del(broken, kept)).status).toBe(202);
    expect((await get(broken, kept)).status).toBe(404);
    expect((await stats(broken)).sess_number).toBe(0);
  });
});
