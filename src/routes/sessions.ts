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
import { requireScope } from "../http/auth.js";
import { readJsonObject, readOptionalJsonObject } from "../http/body.js";
import { deferTo, type AppContext, type AppEnv } from "../http/context.js";
import { ServiceError } from "../http/errors.js";
import { integer, object, optional, passthrough, type Infer } from "../http/schema.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";
import { parsePeer } from "../store/peer.js";
import type { RecordTimes, SessionKind, StoredRecord } from "../store/records.js";

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
function sessionWithTimes(body: Infer<typeof StoreSessionBody>, settings: ContextSettings, now: number) {
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

/** The context's store, after the scope check; cache_disabled unless it has this kind of cache. */
function storeFor(c: AppContext, kind: SessionKind) {
  requireScope(c.var.caller, "sessions");
  const store = c.var.services.sessions.context(c.var.caller.context);
  store.require(kind);
  return store;
}

function notFound(kind: SessionKind): ServiceError {
  return new ServiceError("session_not_found", kind === "server" ? "no session is stored under this id" : "no session is stored for this peer");
}

const times = (r: StoredRecord) => ({ created_at: r.createdAt, expires_at: r.expiresAt });

export const sessions = new Hono<AppEnv>()
  .post("/v1/sessions/flush", async (c) => {
    requireScope(c.var.caller, "admin");
    const body = FlushBody.parse(await readOptionalJsonObject(c.req.raw), "");
    const { services, caller } = c.var;
    const store = services.sessions.context(caller.context);
    if (store.settings.cache_mode === "off") store.require("server");
    return c.json({ flushed: store.flush(body.before ?? services.now()) });
  })
  .get("/v1/stats", (c) => {
    requireScope(c.var.caller, "admin");
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
  })
  .post("/v1/sessions", async (c) => {
    const store = storeFor(c, "server");
    const body = StoreSessionBody.parse(await readJsonObject(c.req.raw), "");
    const now = c.var.services.now();
    const { session, times: t } = sessionWithTimes(body, store.settings, now);
    const { id, record } = await store.create(session, t, now);
    return c.json({ session_id: id, ...times(record) }, 201);
  })
  .put("/v1/sessions/:id", async (c) => {
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    const body = StoreSessionBody.parse(await readJsonObject(c.req.raw), "");
    const now = c.var.services.now();
    const { session, times: t } = sessionWithTimes(body, store.settings, now);
    const { record } = await store.put("server", id, session, t, now);
    return c.json({ session_id: id, ...times(record) }, 201);
  })
  .get("/v1/sessions/:id", async (c) => {
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
  })
  .post("/v1/sessions/:id/take", async (c) => {
    // rustls's take(): of any number of concurrent takes of one stored
    // session, exactly one gets it. KV cannot decide that (no atomic
    // operations); the replay guard can. The guard's entry names this very
    // record (id, content digest, creation time), so a session stored again
    // later under the same id can be taken again.
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    const { services, caller } = c.var;
    const now = services.now();
    const record = await store.get("server", id, now);
    if (!record) throw notFound("server");
    const useId = `s:${caller.context}:${id}:${encodeHex(record.digest)}:${record.createdAt}`;
    if (!(await services.replayGuard.consume(useId, record.expiresAt, now))) throw notFound("server");
    await store.remove("server", id, now).catch((err: unknown) => {
      // Taken all the same: the guard has decided. A delete refused by KV's
      // one-write-a-second limit is retried once the second has passed.
      if (!(err instanceof ServiceError && err.code === "write_rate_limited")) throw err;
      deferTo(c)(new Promise((resolve) => setTimeout(resolve, 1100)).then(() => store.remove("server", id, now + 1)).catch(() => {}));
    });
    return c.json({ session: sessionToJson(record.session), session_id: id, ...times(record) });
  })
  .delete("/v1/sessions/:id", async (c) => {
    const store = storeFor(c, "server");
    const id = sessionIdParam(c);
    await store.remove("server", id, c.var.services.now());
    return c.body(null, 204);
  })
  .put("/v1/client-sessions/:peer{.+}", async (c) => {
    const store = storeFor(c, "client");
    const peer = peerParam(c);
    const body = StoreSessionBody.parse(await readJsonObject(c.req.raw), "");
    const now = c.var.services.now();
    const { session, times: t } = sessionWithTimes(body, store.settings, now);
    const { record } = await store.put("client", peer, session, t, now);
    return c.json({ peer, ...times(record) }, 201);
  })
  .get("/v1/client-sessions/:peer{.+}", async (c) => {
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
  })
  .delete("/v1/client-sessions/:peer{.+}", async (c) => {
    const store = storeFor(c, "client");
    const peer = peerParam(c);
    await store.remove("client", peer, c.var.services.now());
    return c.body(null, 204);
  });
