/**
 * The session store over HTTP (docs/session-store.md maps each route to the
 * OpenSSL function it stands for):
 *
 * PUT    /v1/sessions/{id}            store a session (the new-session callback)
 * POST   /v1/sessions                 store under a generated id (generate_session_id)
 * GET    /v1/sessions/{id}            look it up (the get callback); HEAD: SSL_has_matching_session_id
 * DELETE /v1/sessions/{id}            remove it (the remove callback)
 * POST   /v1/sessions/{id}/take       get and remove at once, exactly once fleet-wide (TLS 1.3 single use)
 * PUT|GET|DELETE /v1/client-sessions/{peer}   the client-side cache, per origin
 * POST   /v1/sessions/flush           SSL_CTX_flush_sessions on this isolate's cache (admin)
 * GET    /v1/stats                    SSL_CTX_sess_* counters of this isolate (admin)
 */
import { Hono } from "hono";
import { encodeHex, parseSession, ResumptionError, SESSION_LIMITS, sessionToJson } from "../core/index.js";
import type { ContextSettings } from "../config.js";
import { deferTo, type AppContext, type AppEnv } from "../http/context.js";
import { ServiceError } from "../errors.js";
import { apiRoutes, type RouteSpec } from "../http/route.js";
import { integer, object, optional, passthrough, type Infer } from "../http/schema.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";
import { parsePeer } from "../store/peer.js";
import { regionOfCode } from "../replay/regions.js";
import { secretDigest, type RecordTimes, type SessionKind, type StoredRecord } from "../store/records.js";
import type { RemoveOutcome } from "../store/session-store.js";

/** 1 to 32 bytes as lowercase hex: the only spelling of a session id. */
export const SESSION_ID_PATTERN = /^(?:[0-9a-f]{2}){1,32}$/;

export const StoreSessionBody = object({
  session: passthrough(SESSION_JSON_SCHEMA),
  timeout: optional(
    integer(1, SESSION_LIMITS.maxTimeout, "seconds the session may be resumed for; overrides session.timeout, which overrides the context's session_timeout"),
  ),
});

export const FlushBody = object({
  before: optional(
    integer(0, SESSION_LIMITS.maxCreatedAt, "unix seconds: remove the sessions expired at this time (default now); 0 removes every session"),
  ),
});

/**
 * The session and its times. Timeout precedence: the body's timeout, then
 * the session's own timeout field, then the context's session_timeout. The
 * timeout counts from the session's created_at (as OpenSSL counts from the
 * session's time), clamped to now; the stored session carries the effective
 * values, so its created_at + timeout is its expires_at.
 */
export function sessionWithTimes(body: Infer<typeof StoreSessionBody>, settings: ContextSettings, now: number) {
  const session = parseSession(body.session, { now, timeout: settings.session_timeout });
  const timeout = body.timeout ?? session.timeout;
  const createdAt = Math.min(session.created_at, now);
  const expiresAt = createdAt + timeout;
  if (expiresAt <= now) {
    throw ResumptionError.fromIssues("session_invalid", [
      { field: "session.created_at", message: "created_at + timeout is already past: the session has expired" },
    ]);
  }
  session.created_at = createdAt;
  session.timeout = timeout;
  const times: RecordTimes = { createdAt, expiresAt, timeout };
  return { session, times };
}

function sessionIdParam(c: AppContext): string {
  const id = c.req.param("id") ?? "";
  if (!SESSION_ID_PATTERN.test(id)) throw new ServiceError("invalid_session_id", "a session id is 1 to 32 bytes of lowercase hex");
  return id;
}

function peerParam(c: AppContext): string {
  const peer = c.req.param("peer") ?? "";
  const parsed = parsePeer(peer);
  if (typeof parsed === "string") throw new ServiceError("invalid_peer", `peer ${parsed}`);
  return peer;
}

/** The caller's context's store; cache_disabled unless it has this kind of cache. */
function storeFor(c: AppContext, kind: SessionKind) {
  const store = c.var.services.sessions.context(c.var.caller.context);
  store.require(kind);
  return store;
}

function notFound(kind: SessionKind): ServiceError {
  return new ServiceError("session_not_found", kind === "server" ? "no session is stored under this id" : "no session is stored for this peer");
}

const times = (r: StoredRecord) => ({ created_at: r.createdAt, expires_at: r.expiresAt });

const UNIX_SECONDS = { type: "integer", description: "unix seconds" };
const ID_PARAM = { id: { type: "string", pattern: SESSION_ID_PATTERN.source, description: "session id: 1 to 32 bytes, lowercase hex" } };
const PEER_PARAM = { peer: { type: "string", description: "the origin: host:port, plus /sni when the SNI differs from the host (docs/session-store.md)" } };
const STORED = {
  type: "object",
  properties: { session_id: ID_PARAM.id, created_at: UNIX_SECONDS, expires_at: UNIX_SECONDS },
};
const FOUND = {
  type: "object",
  properties: { session: SESSION_JSON_SCHEMA, session_id: ID_PARAM.id, created_at: UNIX_SECONDS, expires_at: UNIX_SECONDS },
};
const STORE_ERRORS = ["cache_disabled", "store_unavailable"] as const;

/** A purge's answers (docs/session-store.md, "Purges"): it is never refused. */
const PURGED = {
  204: { description: "removed: gone from this isolate and deleted from KV (other locations see it within KV's propagation), or nothing was stored" },
  202: { description: "accepted: gone from this isolate at once; KV could not take the delete yet (the key was written this second, or KV failed), so it lands within 2 s, made by the replay guard's alarm" },
};
const purged = (c: AppContext, outcome: RemoveOutcome) => c.body(null, outcome === "removed" ? 204 : 202);
const WRITE_ERRORS = [...STORE_ERRORS, "session_invalid", "write_rate_limited"] as const;

export const sessions = new Hono<AppEnv>();
const define = <B, Q>(spec: RouteSpec<B, Q>, handler: Parameters<typeof apiRoutes.define<B, Q>>[2]) => apiRoutes.define(sessions, spec, handler);

define(
  {
    method: "post",
    path: "/v1/sessions/flush",
    summary: "SSL_CTX_flush_sessions: remove expired sessions from this isolate's internal cache.",
    scope: "admin",
    body: FlushBody,
    bodyOptional: true,
    responses: { 200: { description: "how many were removed", schema: { type: "object", properties: { flushed: { type: "integer" } } } } },
    errors: ["cache_disabled"],
  },
  (c, { body }) => {
    const { services, caller } = c.var;
    const store = services.sessions.context(caller.context);
    if (store.settings.cache_mode === "off") store.require("server");
    return c.json({ flushed: store.flush(body.before ?? services.now()) });
  },
);

define(
  {
    method: "get",
    path: "/v1/stats",
    summary: "OpenSSL's SSL_CTX_sess_* counters for the caller's context, in this isolate.",
    scope: ["metrics", "admin"],
    responses: { 200: { description: "counters named as OpenSSL names them", schema: { type: "object" } } },
  },
  (c) => {
    const { services, caller } = c.var;
    const store = services.sessions.context(caller.context);
    return c.json({
      context: caller.context,
      scope: "isolate",
      note:
        "OpenSSL's SSL_CTX_sess_* counters for this context in this isolate only (one isolate of one edge location), since it started; " +
        "other isolates and locations keep their own. sess_number is this isolate's internal cache; KV, the external cache, is fleet-wide. " +
        "sess_cb_misses is not an OpenSSL counter. The client object counts client-session lookups.",
      now: services.now(),
      cache_mode: store.settings.cache_mode,
      flags: store.settings.flags,
      ...store.stats(),
    });
  },
);

define(
  {
    method: "post",
    path: "/v1/sessions",
    summary: "Store a session under an id the service generates (generate_session_id).",
    scope: "sessions",
    body: StoreSessionBody,
    responses: { 201: { description: "stored", schema: STORED } },
    errors: [...WRITE_ERRORS, "id_generation_failed"],
  },
  async (c, { body }) => {
    const store = storeFor(c, "server");
    const now = c.var.services.now();
    const { session, times: t } = sessionWithTimes(body, store.settings, now);
    const { id, record } = await store.create(session, t, now);
    return c.json({ session_id: id, ...times(record) }, 201);
  },
);

define(
  {
    method: "put",
    path: "/v1/sessions/:id",
    summary: "Store a session under its id (the new-session callback). The same id with other content is 409.",
    scope: "sessions",
    params: ID_PARAM,
    body: StoreSessionBody,
    responses: { 201: { description: "stored (or already stored with the same content)", schema: STORED } },
    errors: [...WRITE_ERRORS, "invalid_session_id", "session_exists"],
  },
  async (c, { body }) => {
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    const now = c.var.services.now();
    const { session, times: t } = sessionWithTimes(body, store.settings, now);
    const { record } = await store.put("server", id, session, t, now);
    return c.json({ session_id: id, ...times(record) }, 201);
  },
);

define(
  {
    method: "get",
    path: "/v1/sessions/:id",
    summary: "Look a session up (the get callback). HEAD answers the same status with no body (SSL_has_matching_session_id).",
    scope: "sessions",
    params: ID_PARAM,
    responses: { 200: { description: "the session", schema: FOUND } },
    errors: [...STORE_ERRORS, "invalid_session_id", "session_not_found"],
  },
  async (c) => {
    // Hono answers HEAD with this handler and drops the body.
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    const now = c.var.services.now();
    if (c.req.method === "HEAD") {
      if (!(await store.has("server", id, now))) throw notFound("server");
      return c.body(null, 200);
    }
    const record = await store.get("server", id, now);
    if (!record) throw notFound("server");
    return c.json({ session: sessionToJson(record.session), session_id: id, ...times(record) });
  },
);

define(
  {
    method: "post",
    path: "/v1/sessions/:id/take",
    summary: "Get and remove a session at once: exactly one of any number of concurrent takes gets it, fleet-wide (TLS 1.3 single use).",
    scope: "sessions",
    params: ID_PARAM,
    responses: { 200: { description: "the session, now removed", schema: FOUND } },
    errors: [...STORE_ERRORS, "invalid_session_id", "session_not_found", "session_taken", "replay_guard_unavailable"],
  },
  async (c) => {
    // rustls's take(): of any number of concurrent takes of one stored
    // session, exactly one gets it. KV cannot decide that (no atomic
    // operations); the replay guard can. The guard's entry names the session
    // by its id and its secret (not its times or other fields): the same
    // secret stored again under the id (a late retry of its PUT, say) is not
    // taken a second time; another session under the id is.
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    const { services, caller } = c.var;
    const now = services.now();
    const record = await store.get("server", id, now);
    if (!record) throw notFound("server");
    const useId = `s:${caller.context}:${id}:${encodeHex(await secretDigest(record))}`;
    // Judged in the region the session was stored in, wherever it is taken.
    if (!(await services.replayGuard.consume(useId, record.expiresAt, now, regionOfCode(record.region)))) {
      throw new ServiceError("session_taken", "this session was taken already");
    }
    // Taken: the guard has decided. The removal is a purge like DELETE's,
    // never refused, and need not hold up the answer: this isolate forgets
    // the session as soon as the removal starts (a lookup here waits for
    // it), and a KV delete KV cannot take yet is handed to the guard's alarm.
    const defer = deferTo(c);
    defer(store.remove("server", id, now, defer).catch(() => undefined));
    return c.json({ session: sessionToJson(record.session), session_id: id, ...times(record) });
  },
);

define(
  {
    method: "delete",
    path: "/v1/sessions/:id",
    summary: "Remove a session (the remove callback: a connection that was not shut down cleanly). Idempotent, never refused.",
    scope: "sessions",
    params: ID_PARAM,
    responses: PURGED,
    errors: ["cache_disabled", "invalid_session_id"],
  },
  async (c) => {
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    return purged(c, await store.remove("server", id, c.var.services.now(), deferTo(c)));
  },
);

define(
  {
    method: "put",
    path: "/v1/client-sessions/:peer{.+}",
    summary: "Store the session an edge made as a TLS client to an origin (SSL_SESS_CACHE_CLIENT), replacing the peer's previous one. Never refused for KV's write rate: stores in one second coalesce.",
    scope: "sessions",
    params: PEER_PARAM,
    body: StoreSessionBody,
    responses: { 201: { description: "stored (in the second of another store for the origin: in this isolate, KV keeping that second's)", schema: { type: "object", properties: { peer: PEER_PARAM.peer, created_at: UNIX_SECONDS, expires_at: UNIX_SECONDS } } } },
    errors: [...STORE_ERRORS, "session_invalid", "invalid_peer"],
  },
  async (c, { body }) => {
    const store = storeFor(c, "client");
    const peer = peerParam(c);
    const now = c.var.services.now();
    const { session, times: t } = sessionWithTimes(body, store.settings, now);
    const { record } = await store.put("client", peer, session, t, now);
    return c.json({ peer, ...times(record) }, 201);
  },
);

define(
  {
    method: "get",
    path: "/v1/client-sessions/:peer{.+}",
    summary: "The session to resume with at an origin. HEAD answers the same status with no body.",
    scope: "sessions",
    params: PEER_PARAM,
    responses: { 200: { description: "the session", schema: { type: "object", properties: { session: SESSION_JSON_SCHEMA, peer: PEER_PARAM.peer, created_at: UNIX_SECONDS, expires_at: UNIX_SECONDS } } } },
    errors: [...STORE_ERRORS, "invalid_peer", "session_not_found"],
  },
  async (c) => {
    const store = storeFor(c, "client");
    const peer = peerParam(c);
    const now = c.var.services.now();
    if (c.req.method === "HEAD") {
      if (!(await store.has("client", peer, now))) throw notFound("client");
      return c.body(null, 200);
    }
    const record = await store.get("client", peer, now);
    if (!record) throw notFound("client");
    return c.json({ session: sessionToJson(record.session), peer, ...times(record) });
  },
);

define(
  {
    method: "delete",
    path: "/v1/client-sessions/:peer{.+}",
    summary: "Forget the session for an origin. Idempotent, never refused.",
    scope: "sessions",
    params: PEER_PARAM,
    responses: PURGED,
    errors: ["cache_disabled", "invalid_peer"],
  },
  async (c) => {
    const store = storeFor(c, "client");
    const peer = peerParam(c);
    return purged(c, await store.remove("client", peer, c.var.services.now(), deferTo(c)));
  },
);
