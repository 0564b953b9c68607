/**
 * The API contract, checked against the running app:
 *
 * 1. /openapi.json lists every route of the app, and no route the app lacks;
 *    its request schemas are the very ones that validate requests.
 * 2. The bad-request matrix: for every route, hostile and wrong requests
 *    (no token, another context's token, a token without the scope, a
 *    JWT refused for each reason (JWT_ISSUERS), malformed JSON, wrong content type, oversized bodies, extra and missing
 *    fields, wrong types, ids of 0 and 33 bytes, bad hex, bad base64url) and
 *    injected faults answer the documented status and code: a bad request is
 *    a 4xx, never a 5xx, and no answer holds a stack trace, a token, key
 *    material or a master secret.
 * 3. Every error code the document lists for a route is produced by some row
 *    of the matrix for that route: a documented code is a reachable code.
 *
 * The matrix is data: generic rows are generated from each route's
 * declaration (scope, body, path parameters), specific rows are listed below.
 * A new route gets its generic rows by being declared, and the coverage check
 * fails until its own codes have rows.
 */
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.js";
import { decodeBase64url, decodeHex, encodeBase64url } from "../../src/core/index.js";
import { openApiPath } from "../../src/docs/openapi.js";
import type { Env } from "../../src/env.js";
import { ERROR_MEANINGS, type ErrorCode } from "../../src/errors.js";
import { statusOf } from "../../src/http/errors.js";
import type { RegisteredRoute } from "../../src/http/route.js";
import { failingKv, flakyRing, unreachableGuard } from "./faults.js";
import { TEST_CONTEXTS, TEST_MASTER_KEY, TEST_TOKENS, type TestToken } from "./fixtures.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";
import { JWT_ISSUERS, PII, refusals } from "./jwt-fixtures.js";


const TLS13_SESSION = {
  version: "TLSv1.3",
  cipher_suite: 4865,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  server_name: "resume.example-a.com",
  ticket_age_add: 1000,
};
const OTHER_SESSION = { ...TLS12_SESSION, master_secret: TLS12_SESSION.master_secret.replace("AAEC", "BBEC") };
/**
 * KV and Durable Object storage are shared by the tests of a file: each row
 * gets its own session id and peer (set by send() before the row runs), so
 * no row sees another's stored sessions or write times.
 */
let ID = "";
let PEER = "";

/** What a row's setup hands to its request. */
type Vars = Record<string, string>;

interface Row {
  /** "METHOD /openapi/path", as in the document. */
  route: string;
  name: string;
  token?: TestToken | "not-a-token";
  /** The concrete path; default: the route's path with the fixtures filled in. */
  path?: string | ((v: Vars) => string);
  body?: Record<string, unknown> | ((v: Vars) => unknown);
  /** Sent as is, instead of body. */
  raw?: string;
  headers?: Record<string, string>;
  /** Bindings of the location that sends the request (faults). */
  env?: () => Partial<Env>;
  /** Runs first, on a healthy location sharing the row's ring; returns values for the request. */
  setup?: (loc: Location) => Promise<Vars | void>;
  /** Seconds the clock moves between setup and request. */
  advance?: number;
  status: number;
  code: ErrorCode;
}

const sealed = async (loc: Location, body: object, token: TestToken = "alpha-all"): Promise<Vars> => {
  const res = await loc.json("POST", "/v1/tickets", { token, body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { ticket: res.body.ticket as string };
};

const mutate = (ticket: string, f: (b: Uint8Array) => void) => {
  const bytes = decodeBase64url(ticket)!;
  f(bytes);
  return encodeBase64url(bytes);
};

/** A compact JWE with this protected header and well-formed, meaningless other parts. */
const jwe = (header: object) =>
  [encodeBase64url(new TextEncoder().encode(JSON.stringify(header))), "", "A".repeat(16), "A".repeat(22), "A".repeat(22)].join(".");

const revoke = async (loc: Location) => {
  const res = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
  expect(res.status).toBe(200);
};

/** Rows for what is particular to each route. */
const SPECIFIC: Row[] = [
  // POST /v1/tickets
  { route: "POST /v1/tickets", name: "a session with a short master secret", token: "alpha-tickets", body: { session: { ...TLS12_SESSION, master_secret: "AAAA" } }, status: 400, code: "session_invalid" },
  { route: "POST /v1/tickets", name: "a session missing its secret", token: "alpha-tickets", body: { session: { version: "TLSv1.2", cipher_suite: 1 } }, status: 400, code: "session_invalid" },
  { route: "POST /v1/tickets", name: "a session id in uppercase hex", token: "alpha-tickets", body: { session: { ...TLS12_SESSION, session_id: "ABCD" } }, status: 400, code: "invalid_session_id" },
  { route: "POST /v1/tickets", name: "a session id of 33 bytes", token: "alpha-tickets", body: { session: { ...TLS12_SESSION, session_id: "ab".repeat(33) } }, status: 400, code: "invalid_session_id" },
  { route: "POST /v1/tickets", name: "a lifetime of the wrong type", token: "alpha-tickets", body: { session: TLS12_SESSION, lifetime: "60" }, status: 400, code: "invalid_request" },
  { route: "POST /v1/tickets", name: "a lifetime over 604800", token: "alpha-tickets", body: { session: TLS12_SESSION, lifetime: 604_801 }, status: 400, code: "invalid_request" },
  { route: "POST /v1/tickets", name: "store in a context without a server cache", token: "sess-off", body: { session: TLS12_SESSION, store: true }, status: 409, code: "cache_disabled" },
  { route: "POST /v1/tickets", name: "KV down while storing", token: "alpha-all", env: () => ({ SESSIONS: failingKv }), body: { session: TLS12_SESSION, store: true }, status: 503, code: "store_unavailable" },
  { route: "POST /v1/tickets", name: "the ring unreachable from a cold isolate", token: "alpha-tickets", env: () => ({ KEY_RING: flakyRing(true).namespace }), body: { session: TLS12_SESSION }, status: 503, code: "keyring_unavailable" },

  // POST /v1/tickets/open
  { route: "POST /v1/tickets/open", name: "a ticket that is not base64url", token: "alpha-tickets", body: { ticket: "a+b/c=" }, status: 422, code: "ticket_malformed" },
  { route: "POST /v1/tickets/open", name: "a ticket of three bytes", token: "alpha-tickets", body: { ticket: "AQID" }, status: 422, code: "ticket_malformed" },
  // A ticket over the TLS limit of 65535 bytes cannot even fit in a 64 KiB body.
  { route: "POST /v1/tickets/open", name: "a ticket longer than 65535 bytes", token: "alpha-tickets", body: { ticket: "A".repeat(87_384) }, status: 413, code: "body_too_large" },
  { route: "POST /v1/tickets/open", name: "a ticket that is a number", token: "alpha-tickets", body: { ticket: 12 }, status: 400, code: "invalid_request" },
  { route: "POST /v1/tickets/open", name: "a server_name that is no host name", token: "alpha-tickets", body: { ticket: "AQID", server_name: "a b" }, status: 400, code: "invalid_request" },
  { route: "POST /v1/tickets/open", name: "an obfuscated_ticket_age out of range", token: "alpha-tickets", body: { ticket: "AQID", obfuscated_ticket_age: 2 ** 32 }, status: 400, code: "invalid_request" },
  { route: "POST /v1/tickets/open", name: "format version 2", token: "alpha-tickets", setup: (loc) => sealed(loc, { session: TLS12_SESSION }), body: (v) => ({ ticket: mutate(v.ticket!, (b) => (b[0] = 2)) }), status: 422, code: "ticket_unsupported_version" },
  { route: "POST /v1/tickets/open", name: "a JWE asking for PBES2 with 2^31 iterations", token: "alpha-tickets", body: { ticket: jwe({ alg: "PBES2-HS512+A256KW", enc: "A256GCM", p2c: 2 ** 31, p2s: "AAAAAAAAAAAAAAAAAAAAAA" }) }, status: 422, code: "ticket_unsupported_algorithm" },
  { route: "POST /v1/tickets/open", name: "a compressed JWE", token: "alpha-tickets", body: { ticket: jwe({ alg: "dir", enc: "A256GCM", zip: "DEF" }) }, status: 422, code: "ticket_unsupported_algorithm" },
  { route: "POST /v1/tickets/open", name: "a JWE of four segments", token: "alpha-tickets", body: { ticket: "e30...AAAA" }, status: 422, code: "ticket_malformed" },
  { route: "POST /v1/tickets/open", name: "a JWE ticket of another context", token: "beta-all", setup: (loc) => sealed(loc, { session: TLS12_SESSION, format: "jwe" }), body: (v) => ({ ticket: v.ticket }), status: 422, code: "context_mismatch" },
  { route: "POST /v1/tickets", name: "an unknown ticket format", token: "alpha-tickets", body: { session: TLS12_SESSION, format: "cbor" }, status: 400, code: "invalid_request" },
  { route: "POST /v1/tickets/open", name: "a key id nobody knows", token: "alpha-tickets", setup: (loc) => sealed(loc, { session: TLS12_SESSION }), body: (v) => ({ ticket: mutate(v.ticket!, (b) => (b[1] = b[1]! ^ 0x80)) }), status: 422, code: "key_unknown" },
  { route: "POST /v1/tickets/open", name: "one flipped bit in the tag", token: "alpha-tickets", setup: (loc) => sealed(loc, { session: TLS12_SESSION }), body: (v) => ({ ticket: mutate(v.ticket!, (b) => (b[b.length - 1] = b[b.length - 1]! ^ 1)) }), status: 422, code: "ticket_invalid" },
  { route: "POST /v1/tickets/open", name: "an expired ticket", token: "alpha-tickets", setup: (loc) => sealed(loc, { session: TLS12_SESSION, lifetime: 60 }), advance: 60, body: (v) => ({ ticket: v.ticket }), status: 422, code: "ticket_expired" },
  { route: "POST /v1/tickets/open", name: "another context's ticket", token: "beta-all", setup: (loc) => sealed(loc, { session: TLS12_SESSION }), body: (v) => ({ ticket: v.ticket }), status: 422, code: "ticket_invalid" },
  {
    // A made-up ticket naming a stored session's id, under a revoked key id: no copy was stored for it.
    route: "POST /v1/tickets/open", name: "a forged store ticket naming a stored session", token: "alpha-tickets",
    setup: async (loc) => {
      expect((await loc.call("PUT", `/v1/sessions/${ID}`, { token: "alpha-all", body: { session: TLS12_SESSION } })).status).toBe(201);
      const v = await sealed(loc, { session: TLS12_SESSION, store: true });
      loc.now += 1;
      await revoke(loc);
      const keyId = decodeBase64url(v.ticket!)!.subarray(1, 4);
      return { ticket: encodeBase64url(new Uint8Array([1, ...keyId, ID.length / 2, ...decodeHex(ID)!, ...new Uint8Array(12 + 40)])) };
    },
    body: (v) => ({ ticket: v.ticket }), status: 422, code: "key_unknown",
  },
  {
    route: "POST /v1/tickets/open", name: "a single-use ticket opened twice", token: "alpha-tickets",
    setup: async (loc) => {
      const v = await sealed(loc, { session: TLS12_SESSION, single_use: true });
      expect((await loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: v })).status).toBe(200);
      return v;
    },
    body: (v) => ({ ticket: v.ticket }), status: 422, code: "ticket_replayed",
  },
  { route: "POST /v1/tickets/open", name: "a ticket age 20 s off", token: "alpha-tickets", setup: (loc) => sealed(loc, { session: TLS13_SESSION }), advance: 5, body: (v) => ({ ticket: v.ticket, obfuscated_ticket_age: 25_000 + 1000 }), status: 422, code: "ticket_age_mismatch" },
  { route: "POST /v1/tickets/open", name: "another server_name", token: "alpha-tickets", setup: (loc) => sealed(loc, { session: TLS13_SESSION }), body: (v) => ({ ticket: v.ticket, server_name: "other.example" }), status: 422, code: "sni_mismatch" },
  { route: "POST /v1/tickets/open", name: "a single-use ticket while the guard is down", token: "alpha-tickets", env: () => ({ REPLAY_GUARD: unreachableGuard }), setup: (loc) => sealed(loc, { session: TLS12_SESSION, single_use: true }), body: (v) => ({ ticket: v.ticket }), status: 503, code: "replay_guard_unavailable" },
  // A cold isolate reads the ring from the tier (KV): only with KV down as well is it unavailable.
  { route: "POST /v1/tickets/open", name: "the ring unreachable from a cold isolate, its read tier too", token: "alpha-tickets", env: () => ({ KEY_RING: flakyRing(true).namespace, SESSIONS: failingKv }), setup: (loc) => sealed(loc, { session: TLS12_SESSION }), body: (v) => ({ ticket: v.ticket }), status: 503, code: "keyring_unavailable" },
  {
    route: "POST /v1/tickets/open", name: "a revoked key's ticket while KV is down", token: "alpha-all", env: () => ({ SESSIONS: failingKv }),
    setup: async (loc) => {
      const v = await sealed(loc, { session: TLS12_SESSION, store: true });
      loc.now += 1;
      await revoke(loc);
      return v;
    },
    advance: 1, body: (v) => ({ ticket: v.ticket }), status: 503, code: "store_unavailable",
  },

  // Session store
  { route: "PUT /v1/sessions/{id}", name: "an id in uppercase", token: "alpha-sessions", path: "/v1/sessions/ABCD", body: { session: TLS12_SESSION }, status: 400, code: "invalid_session_id" },
  { route: "PUT /v1/sessions/{id}", name: "an id of odd length", token: "alpha-sessions", path: "/v1/sessions/abc", body: { session: TLS12_SESSION }, status: 400, code: "invalid_session_id" },
  { route: "PUT /v1/sessions/{id}", name: "a bad session", token: "alpha-sessions", body: { session: { ...TLS12_SESSION, server_name: "1.2.3.4" } }, status: 400, code: "session_invalid" },
  { route: "PUT /v1/sessions/{id}", name: "a timeout of zero", token: "alpha-sessions", body: { session: TLS12_SESSION, timeout: 0 }, status: 400, code: "invalid_request" },
  { route: "PUT /v1/sessions/{id}", name: "another session under a stored id", token: "alpha-sessions", setup: async (loc) => void (await loc.call("PUT", `/v1/sessions/${ID}`, { token: "alpha-sessions", body: { session: OTHER_SESSION } })), advance: 2, body: { session: TLS12_SESSION }, status: 409, code: "session_exists" },
  { route: "PUT /v1/sessions/{id}", name: "a context without a server cache", token: "sess-off", body: { session: TLS12_SESSION }, status: 409, code: "cache_disabled" },
  { route: "PUT /v1/sessions/{id}", name: "a second write within the second", token: "alpha-sessions", setup: async (loc) => void (await loc.call("DELETE", `/v1/sessions/${ID}`, { token: "alpha-sessions" })), body: { session: TLS12_SESSION }, status: 429, code: "write_rate_limited" },
  {
    // The purge's KV delete is still to land (handed to the guard): a store now would be deleted by it.
    route: "PUT /v1/sessions/{id}", name: "a store just after a purge that KV could not take yet", token: "alpha-sessions",
    setup: async (loc) => {
      expect((await loc.call("PUT", `/v1/sessions/${ID}`, { token: "alpha-sessions", body: { session: OTHER_SESSION } })).status).toBe(201);
      expect((await loc.call("DELETE", `/v1/sessions/${ID}`, { token: "alpha-sessions" })).status).toBe(202);
    },
    advance: 1, body: { session: TLS12_SESSION }, status: 429, code: "write_rate_limited",
  },
  { route: "PUT /v1/sessions/{id}", name: "KV down", token: "alpha-sessions", env: () => ({ SESSIONS: failingKv }), body: { session: TLS12_SESSION }, status: 503, code: "store_unavailable" },
  { route: "POST /v1/sessions", name: "a bad session", token: "alpha-sessions", body: { session: { ...TLS12_SESSION, cipher_suite: 70_000 } }, status: 400, code: "session_invalid" },
  { route: "POST /v1/sessions", name: "a context without a server cache", token: "sess-off", body: { session: TLS12_SESSION }, status: 409, code: "cache_disabled" },
  { route: "POST /v1/sessions", name: "KV down", token: "alpha-sessions", env: () => ({ SESSIONS: failingKv }), body: { session: TLS12_SESSION }, status: 503, code: "store_unavailable" },
  { route: "POST /v1/sessions", name: "a prefix as long as the id, taken", token: "sess-prefix1", setup: async (loc) => void (await loc.call("PUT", "/v1/sessions/ab", { token: "sess-prefix1", body: { session: OTHER_SESSION } })), advance: 2, body: { session: TLS12_SESSION }, status: 503, code: "id_generation_failed" },
  { route: "POST /v1/sessions", name: "the one possible id written within the second", token: "sess-prefix1", setup: async (loc) => void (await loc.call("DELETE", "/v1/sessions/ab", { token: "sess-prefix1" })), body: { session: TLS12_SESSION }, status: 429, code: "write_rate_limited" },
  { route: "GET /v1/sessions/{id}", name: "nothing stored", token: "alpha-sessions", status: 404, code: "session_not_found" },
  { route: "GET /v1/sessions/{id}", name: "an id of 33 bytes", token: "alpha-sessions", path: `/v1/sessions/${"ab".repeat(33)}`, status: 400, code: "invalid_session_id" },
  { route: "GET /v1/sessions/{id}", name: "a context without a server cache", token: "sess-off", status: 409, code: "cache_disabled" },
  { route: "GET /v1/sessions/{id}", name: "KV down", token: "alpha-sessions", env: () => ({ SESSIONS: failingKv }), status: 503, code: "store_unavailable" },
  { route: "POST /v1/sessions/{id}/take", name: "nothing stored", token: "alpha-sessions", status: 404, code: "session_not_found" },
  {
    route: "POST /v1/sessions/{id}/take", name: "taken already, stored again", token: "alpha-sessions",
    setup: async (loc) => {
      const put = () => loc.call("PUT", `/v1/sessions/${ID}`, { token: "alpha-sessions", body: { session: TLS12_SESSION } });
      expect((await put()).status).toBe(201);
      loc.now += 2;
      expect((await loc.call("POST", `/v1/sessions/${ID}/take`, { token: "alpha-sessions" })).status).toBe(200);
      loc.now += 2;
      expect((await put()).status).toBe(201);
    },
    advance: 1, status: 409, code: "session_taken",
  },
  { route: "POST /v1/sessions/{id}/take", name: "a bad id", token: "alpha-sessions", path: "/v1/sessions/xyz/take", status: 400, code: "invalid_session_id" },
  { route: "POST /v1/sessions/{id}/take", name: "a context without a server cache", token: "sess-off", status: 409, code: "cache_disabled" },
  { route: "POST /v1/sessions/{id}/take", name: "KV down", token: "alpha-sessions", env: () => ({ SESSIONS: failingKv }), status: 503, code: "store_unavailable" },
  { route: "POST /v1/sessions/{id}/take", name: "the guard down", token: "alpha-sessions", env: () => ({ REPLAY_GUARD: unreachableGuard }), setup: async (loc) => void (await loc.call("PUT", `/v1/sessions/${ID}`, { token: "alpha-sessions", body: { session: TLS12_SESSION } })), advance: 1, status: 503, code: "replay_guard_unavailable" },
  { route: "DELETE /v1/sessions/{id}", name: "a bad id", token: "alpha-sessions", path: "/v1/sessions/0", status: 400, code: "invalid_session_id" },
  { route: "DELETE /v1/sessions/{id}", name: "a context without a server cache", token: "sess-off", status: 409, code: "cache_disabled" },
  { route: "POST /v1/sessions/flush", name: "before of the wrong type", token: "alpha-all", body: { before: "now" }, status: 400, code: "invalid_request" },
  { route: "POST /v1/sessions/flush", name: "a context without a cache", token: "sess-off", body: {}, status: 409, code: "cache_disabled" },
  { route: "PUT /v1/client-sessions/{peer}", name: "a peer without a port", token: "sess-client", path: "/v1/client-sessions/origin.example.com", body: { session: TLS12_SESSION }, status: 400, code: "invalid_peer" },
  { route: "PUT /v1/client-sessions/{peer}", name: "a bad session", token: "sess-client", body: { session: {} }, status: 400, code: "session_invalid" },
  { route: "PUT /v1/client-sessions/{peer}", name: "a server-only context", token: "alpha-sessions", body: { session: TLS12_SESSION }, status: 409, code: "cache_disabled" },
  { route: "PUT /v1/client-sessions/{peer}", name: "KV down", token: "sess-client", env: () => ({ SESSIONS: failingKv }), body: { session: TLS12_SESSION }, status: 503, code: "store_unavailable" },
  { route: "GET /v1/client-sessions/{peer}", name: "nothing stored", token: "sess-client", status: 404, code: "session_not_found" },
  { route: "GET /v1/client-sessions/{peer}", name: "a port of 0", token: "sess-client", path: "/v1/client-sessions/origin.example.com:0", status: 400, code: "invalid_peer" },
  { route: "GET /v1/client-sessions/{peer}", name: "a server-only context", token: "alpha-sessions", status: 409, code: "cache_disabled" },
  { route: "GET /v1/client-sessions/{peer}", name: "KV down", token: "sess-client", env: () => ({ SESSIONS: failingKv }), status: 503, code: "store_unavailable" },
  { route: "DELETE /v1/client-sessions/{peer}", name: "an uppercase host", token: "sess-client", path: "/v1/client-sessions/Origin.example.com:443", status: 400, code: "invalid_peer" },
  { route: "DELETE /v1/client-sessions/{peer}", name: "a server-only context", token: "alpha-sessions", status: 409, code: "cache_disabled" },

  // Keys
  { route: "GET /v1/keys", name: "the ring unreachable", token: "alpha-keys", env: () => ({ KEY_RING: flakyRing(true).namespace }), status: 503, code: "keyring_unavailable" },
  { route: "GET /v1/keys/export", name: "no format", token: "alpha-all", status: 400, code: "invalid_request" },
  { route: "GET /v1/keys/export", name: "an unknown format", token: "alpha-all", path: "/v1/keys/export?format=apache", status: 400, code: "invalid_request" },
  { route: "GET /v1/keys/export", name: "an unknown parameter", token: "alpha-all", path: "/v1/keys/export?format=nginx80&key=1", status: 400, code: "invalid_request" },
  { route: "GET /v1/keys/export", name: "slots out of range", token: "alpha-all", path: "/v1/keys/export?format=nginx80&slots=0", status: 400, code: "invalid_request" },
  { route: "GET /v1/keys/export", name: "slots for the JWK Set", token: "alpha-all", path: "/v1/keys/export?format=jwk&slots=2", status: 400, code: "invalid_request" },
  { route: "GET /v1/keys/export", name: "the JWK Set with the ring unreachable", token: "alpha-all", path: "/v1/keys/export?format=jwk", env: () => ({ KEY_RING: flakyRing(true).namespace }), status: 503, code: "keyring_unavailable" },
  { route: "GET /v1/keys/export", name: "two slots for Node's one key", token: "alpha-all", path: "/v1/keys/export?format=node48&slots=2", status: 400, code: "invalid_request" },
  { route: "GET /v1/keys/export", name: "the ring unreachable", token: "alpha-all", path: "/v1/keys/export?format=nginx80", env: () => ({ KEY_RING: flakyRing(true).namespace }), status: 503, code: "keyring_unavailable" },
  { route: "POST /v1/keys/rotate", name: "revoke of the wrong type", token: "alpha-all", body: { revoke: "yes" }, status: 400, code: "invalid_request" },
  { route: "POST /v1/keys/rotate", name: "the ring unreachable", token: "alpha-all", env: () => ({ KEY_RING: flakyRing(true).namespace }), body: {}, status: 503, code: "keyring_unavailable" },

  // Paths and methods
  { route: "GET /v1/sessions/{id}", name: "an id of 0 bytes (no such route)", token: "alpha-sessions", path: "/v1/sessions/", status: 404, code: "not_found" },
  { route: "GET /v1/sessions/{id}", name: "a method the path does not take", token: "alpha-sessions", path: () => `/v1/sessions/${ID}`, headers: { "x-method": "PATCH" }, status: 405, code: "method_not_allowed" },
];

/** A token with none of the route's scopes, in the route's context. */
function tokenWithout(route: RegisteredRoute): TestToken | undefined {
  const scopes = typeof route.scope === "string" ? [route.scope] : [...(route.scope ?? [])];
  return (["alpha-tickets", "alpha-sessions", "alpha-keys"] as const).find((t) => !scopes.some((s) => (TEST_TOKENS[t].scopes as readonly string[]).includes(s)));
}

/** A token with the route's scope: the admin token of context alpha has them all. */
const WITH_SCOPE: TestToken = "alpha-all";

function routeKey(r: RegisteredRoute): string {
  return `${r.method.toUpperCase()} ${openApiPath(r.path)}`;
}

function defaultPath(r: RegisteredRoute): string {
  return r.path.replace(":id", ID).replace(/:peer\{[^}]+\}/, PEER);
}

/** A body that passes the route's schema, for rows that break something else. */
function validBody(r: RegisteredRoute): Record<string, unknown> {
  const key = routeKey(r);
  if (key === "POST /v1/tickets/open") return { ticket: "AQID" };
  if (key.includes("sessions") && !key.includes("flush")) return { session: TLS12_SESSION };
  if (key === "POST /v1/tickets") return { session: TLS12_SESSION };
  return {};
}

/** Rows every route gets from its declaration. */
function generic(r: RegisteredRoute): Row[] {
  const route = routeKey(r);
  const rows: Row[] = [];
  if (r.scope) {
    rows.push({ route, name: "no token", status: 401, code: "unauthorized" });
    rows.push({ route, name: "an unknown token", token: "not-a-token", status: 401, code: "unauthorized" });
    rows.push({ route, name: "a malformed Authorization header", headers: { authorization: "Basic YWxwaGEtYWxsOg==" }, status: 401, code: "unauthorized" });
    const without = tokenWithout(r);
    if (without) rows.push({ route, name: `a token without the scope (${without})`, token: without, body: r.body ? validBody(r) : undefined, status: 403, code: "forbidden" });
    // JWT callers (JWT_ISSUERS set for the row; the remote issuer's JWKS cannot be fetched in tests).
    for (const jwt of JWT_REFUSALS) {
      rows.push({
        route,
        name: `a JWT: ${jwt.name}`,
        headers: jwt.headers,
        env: () => ({ JWT_ISSUERS, ...jwt.env?.() }),
        // A replay: the token was accepted once already, at another location (the fleet-wide record saw it).
        ...(jwt.presentFirst && { setup: async (loc: Location) => void (await location(loc.now, { env: { JWT_ISSUERS } }).call("GET", "/v1/keys", { headers: jwt.headers })) }),
        body: r.body ? validBody(r) : undefined,
        status: statusOf(jwt.code),
        code: jwt.code,
      });
    }
  }
  if (r.body) {
    const body = validBody(r);
    rows.push({ route, name: "malformed JSON", token: WITH_SCOPE, raw: '{"session": ', status: 400, code: "invalid_json" });
    rows.push({ route, name: "a JSON array", token: WITH_SCOPE, raw: "[]", status: 400, code: "invalid_request" });
    rows.push({ route, name: "an extra field", token: WITH_SCOPE, body: { ...body, extra: 1 }, status: 400, code: "invalid_request" });
    // Names every object inherits are unknown fields too (a check with `in` would let them through).
    for (const inherited of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
      rows.push({ route, name: `an extra field named ${inherited}`, token: WITH_SCOPE, raw: `${JSON.stringify(body).slice(0, -1)}${Object.keys(body).length ? "," : ""}"${inherited}":{}}`, status: 400, code: "invalid_request" });
    }
    rows.push({ route, name: "text/plain", token: WITH_SCOPE, raw: JSON.stringify(body), headers: { "content-type": "text/plain" }, status: 415, code: "unsupported_media_type" });
    rows.push({ route, name: "a body over 64 KiB", token: WITH_SCOPE, raw: JSON.stringify({ ...(body as object), pad: "x".repeat(66_000) }), status: 413, code: "body_too_large" });
    const required = (r.body.jsonSchema() as { required?: string[] }).required ?? [];
    for (const field of required) {
      const missing = { ...(body as Record<string, unknown>) };
      delete missing[field];
      rows.push({ route, name: `no ${field}`, token: WITH_SCOPE, body: missing, status: 400, code: "invalid_request" });
    }
  }
  return rows;
}

const JWT_REFUSALS = await refusals();
const ROUTES: readonly RegisteredRoute[] = createApp().routeTable.routes;
const ROWS: Row[] = [...ROUTES.flatMap(generic), ...SPECIFIC];

/** Strings that must never appear in any answer. */
const SECRETS = [
  TLS12_SESSION.master_secret,
  OTHER_SESSION.master_secret,
  TLS13_SESSION.master_secret,
  TEST_MASTER_KEY,
  // Tokens, except those spelled like their context: a context name is no secret.
  ...Object.keys(TEST_TOKENS).filter((t) => !(t in TEST_CONTEXTS)),
  // JWTs, whole, and a claim of theirs that stands for a subject's PII.
  ...JWT_REFUSALS.map((r) => r.token),
  PII,
];

let rowCount = 0;

async function send(row: Row): Promise<{ status: number; text: string; headers: Headers }> {
  rowCount++;
  ID = rowCount.toString(16).padStart(8, "0") + "c0ffee".repeat(4);
  PEER = `origin-${rowCount}.example.com:443`;
  const healthy = location();
  const vars = (row.setup ? await row.setup(healthy) : undefined) ?? {};
  const loc = row.env ? location(healthy.now, { env: row.env() }) : healthy;
  loc.now = healthy.now + (row.advance ?? 0);
  const [methodName, ...rest] = row.route.split(" ");
  const method = row.headers?.["x-method"] ?? methodName!;
  const route = ROUTES.find((r) => routeKey(r) === row.route);
  const path = typeof row.path === "function" ? row.path(vars) : (row.path ?? (route ? defaultPath(route) : rest.join(" ")));
  const body = typeof row.body === "function" ? (row.body as (v: Vars) => unknown)(vars) : row.body;
  const headers: Record<string, string> = { ...row.headers };
  delete headers["x-method"];
  const res = await loc.call(method, path, {
    token: row.token,
    body: row.raw ?? body,
    headers: row.raw !== undefined && !headers["content-type"] ? { "content-type": "application/json", ...headers } : headers,
  });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe("the OpenAPI document", () => {
  it("lists every route of the app, and only those", async () => {
    const loc = location();
    const res = await loc.json("GET", "/openapi.json");
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    const documented = Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const app = createApp();
    const served = app.routes.filter((r) => r.method !== "ALL").map((r) => `${r.method} ${openApiPath(r.path)}`);
    expect(new Set(served)).toEqual(new Set(documented));
  });

  it("describes each body with the schema that validates it", async () => {
    const doc = (await location().json("GET", "/openapi.json")).body;
    for (const r of ROUTES.filter((r) => r.body)) {
      expect(doc.paths[openApiPath(r.path)][r.method].requestBody.content["application/json"].schema).toEqual(r.body!.jsonSchema());
    }
  });

  it("renders /docs offline: every route, every code, no external asset", async () => {
    const res = await location().call("GET", "/docs");
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const r of ROUTES) expect(html).toContain(`${r.method.toUpperCase()} ${openApiPath(r.path)}`);
    for (const code of Object.keys(ERROR_MEANINGS)) expect(html).toContain(code);
    expect(html).not.toMatch(/<(script|link|img|iframe)\b|url\(|@import|https?:\/\/(?!127\.0\.0\.1)/i);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
  });
});

describe("the bad-request matrix", () => {
  it.each(ROWS.map((row) => [`${row.route}: ${row.name}`, row] as const))("%s", async (_, row) => {
    const { status, text, headers } = await send(row);
    expect({ status, text: text.slice(0, 300) }).toMatchObject({ status: row.status });
    const body = JSON.parse(text);
    expect(body.error.code).toBe(row.code);
    expect(statusOf(row.code)).toBe(row.status);
    if (row.status === 401) expect(headers.get("www-authenticate")).toMatch(/^Bearer/);
    if (row.status === 405) expect(headers.get("allow")).toBeTruthy();
    // No stack trace, no secret, ever.
    expect(text).not.toMatch(/\bat .*:\d+:\d+|\.ts:\d+|Error: /);
    for (const secret of SECRETS) expect(text).not.toContain(secret);
  });

  it("produces every error code the document lists for each route", () => {
    const produced = new Set(ROWS.map((row) => `${row.route} ${row.code}`));
    const missing = ROUTES.flatMap((r) => r.allErrors.map((code) => `${routeKey(r)} ${code}`)).filter((k) => !produced.has(k));
    expect(missing).toEqual([]);
  });

  it("answers bad requests with a 4xx, never a 5xx", () => {
    const faults = ROWS.filter((row) => row.status >= 500);
    // Only injected faults may answer 5xx, and each names what failed.
    for (const row of faults) expect(row.env ?? row.setup, `${row.route}: ${row.name}`).toBeDefined();
    expect(faults.every((row) => ["store_unavailable", "keyring_unavailable", "replay_guard_unavailable", "id_generation_failed", "jwks_unavailable"].includes(row.code))).toBe(true);
  });
});

void T0;
