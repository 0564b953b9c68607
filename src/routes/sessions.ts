/**
 * The session store over HTTP (docs/session-store.md maps each route to the
 * OpenSSL function it stands for); the contract is src/api/sessions.ts.
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
import {
  ClientSession,
  clientSession,
  ClientSessionInfo,
  clientSessionInfo,
  FlushBody,
  FlushResult,
  PeerParams,
  SessionIdParams,
  SessionStats,
  StoredSession,
  storedSession,
  StoredSessionInfo,
  storedSessionInfo,
  StoreSessionBody,
  type StoreSessionRequest,
} from "../api/sessions.js";
import { ServiceError } from "../errors.js";
import { deferTo, type AppContext } from "../http/context.js";
import { route, type Reply } from "../http/route.js";
import type { SessionKind } from "../store/records.js";
import type { RemoveOutcome } from "../store/session-store.js";
import { sessionWithTimes } from "../store/session-times.js";
import { takeSession } from "../store/take.js";

/** The caller's context's store; cache_disabled unless it has this kind of cache. */
function storeFor(c: AppContext, kind: SessionKind) {
  const store = c.var.services.sessions.context(c.var.caller.context);
  store.require(kind);
  return store;
}

function notFound(kind: SessionKind): ServiceError {
  return new ServiceError("session_not_found", kind === "server" ? "no session is stored under this id" : "no session is stored for this peer");
}

/** A PUT of either kind: the session and its times by the context's settings, then the store's put. */
async function putNamed(c: AppContext, kind: SessionKind, name: string, body: StoreSessionRequest) {
  const store = storeFor(c, kind);
  const now = c.var.services.now();
  const { session, times } = sessionWithTimes(body, store.settings, now);
  return (await store.put(kind, name, session, times, now)).record;
}

/** A lookup of either kind; session_not_found when nothing is stored. */
async function getNamed(c: AppContext, kind: SessionKind, name: string) {
  const record = await storeFor(c, kind).get(kind, name, c.var.services.now());
  if (!record) throw notFound(kind);
  return record;
}

/** HEAD of either kind: the lookup's status, without reading the record. */
async function requireNamed(c: AppContext, kind: SessionKind, name: string): Promise<void> {
  if (!(await storeFor(c, kind).has(kind, name, c.var.services.now()))) throw notFound(kind);
}

const STORE_ERRORS = ["cache_disabled", "store_unavailable"] as const;
const WRITE_ERRORS = [...STORE_ERRORS, "session_invalid", "write_rate_limited"] as const;

/** A purge's answers (docs/session-store.md, "Purges"): it is never refused. */
const PURGED = {
  204: { description: "removed: gone from this isolate and deleted from KV (other locations see it within KV's propagation), or nothing was stored" },
  202: { description: "accepted: gone from this isolate at once; KV could not take the delete yet (the key was written this second, or KV failed), so it lands within 2 s, made by the replay guard's alarm" },
} satisfies Record<number, Reply<undefined>>;
const purged = (outcome: RemoveOutcome) => (outcome === "removed" ? { status: 204 as const } : { status: 202 as const });

export const sessionRoutes = [
  route(
    {
      method: "post",
      path: "/v1/sessions/flush",
      summary: "SSL_CTX_flush_sessions: remove expired sessions from this isolate's internal cache.",
      scope: "admin",
      body: FlushBody,
      bodyOptional: true,
      responses: { 200: { description: "how many were removed", schema: FlushResult } },
      errors: ["cache_disabled"],
    },
    (c, { body }) => {
      const { services, caller } = c.var;
      const store = services.sessions.context(caller.context);
      if (store.settings.cache_mode === "off") store.require("server");
      return { status: 200, body: { flushed: store.flush(body.before ?? services.now()) } };
    },
  ),
  route(
    {
      method: "get",
      path: "/v1/stats",
      summary: "OpenSSL's SSL_CTX_sess_* counters for the caller's context, in this isolate.",
      scope: ["metrics", "admin"],
      responses: { 200: { description: "counters named as OpenSSL names them", schema: SessionStats } },
    },
    (c) => {
      const { services, caller } = c.var;
      const store = services.sessions.context(caller.context);
      return {
        status: 200,
        body: {
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
        },
      };
    },
  ),
  route(
    {
      method: "post",
      path: "/v1/sessions",
      summary: "Store a session under an id the service generates (generate_session_id).",
      scope: "sessions",
      body: StoreSessionBody,
      responses: { 201: { description: "stored", schema: StoredSessionInfo } },
      errors: [...WRITE_ERRORS, "id_generation_failed"],
    },
    async (c, { body }) => {
      const store = storeFor(c, "server");
      const now = c.var.services.now();
      const { session, times } = sessionWithTimes(body, store.settings, now);
      const { id, record } = await store.create(session, times, now);
      return { status: 201, body: storedSessionInfo(id, record) };
    },
  ),
  route(
    {
      method: "put",
      path: "/v1/sessions/:id",
      summary: "Store a session under its id (the new-session callback). The same id with other content is 409.",
      scope: "sessions",
      params: SessionIdParams,
      body: StoreSessionBody,
      responses: { 201: { description: "stored (or already stored with the same content)", schema: StoredSessionInfo } },
      errors: [...WRITE_ERRORS, "invalid_session_id", "session_exists"],
    },
    async (c, { params: { id }, body }) => ({ status: 201, body: storedSessionInfo(id, await putNamed(c, "server", id, body)) }),
  ),
  route(
    {
      method: "get",
      path: "/v1/sessions/:id",
      summary: "Look a session up (the get callback). HEAD answers the same status with no body (SSL_has_matching_session_id).",
      scope: "sessions",
      params: SessionIdParams,
      responses: { 200: { description: "the session", schema: StoredSession } },
      errors: [...STORE_ERRORS, "invalid_session_id", "session_not_found"],
      head: (c, { params: { id } }) => requireNamed(c, "server", id),
    },
    async (c, { params: { id } }) => ({ status: 200, body: storedSession(id, await getNamed(c, "server", id)) }),
  ),
  route(
    {
      method: "post",
      path: "/v1/sessions/:id/take",
      summary: "Get and remove a session at once: exactly one of any number of concurrent takes gets it, fleet-wide (TLS 1.3 single use).",
      scope: "sessions",
      params: SessionIdParams,
      responses: { 200: { description: "the session, now removed", schema: StoredSession } },
      errors: [...STORE_ERRORS, "invalid_session_id", "session_not_found", "session_taken", "replay_guard_unavailable"],
    },
    async (c, { params: { id } }) => ({ status: 200, body: storedSession(id, await takeSession(c.var.services, c.var.caller.context, id, deferTo(c))) }),
  ),
  route(
    {
      method: "delete",
      path: "/v1/sessions/:id",
      summary: "Remove a session (the remove callback: a connection that was not shut down cleanly). Idempotent, never refused.",
      scope: "sessions",
      params: SessionIdParams,
      responses: PURGED,
      errors: ["cache_disabled", "invalid_session_id"],
    },
    async (c, { params: { id } }) => purged(await storeFor(c, "server").remove("server", id, c.var.services.now(), deferTo(c))),
  ),
  route(
    {
      method: "put",
      path: "/v1/client-sessions/:peer{.+}",
      summary:
        "Store the session an edge made as a TLS client to an origin (SSL_SESS_CACHE_CLIENT), replacing the peer's previous one. Never refused for KV's write rate: stores in one second coalesce.",
      scope: "sessions",
      params: PeerParams,
      body: StoreSessionBody,
      responses: { 201: { description: "stored (in the second of another store for the origin: in this isolate, KV keeping that second's)", schema: ClientSessionInfo } },
      errors: [...STORE_ERRORS, "session_invalid", "invalid_peer"],
    },
    async (c, { params: { peer }, body }) => ({ status: 201, body: clientSessionInfo(peer, await putNamed(c, "client", peer, body)) }),
  ),
  route(
    {
      method: "get",
      path: "/v1/client-sessions/:peer{.+}",
      summary: "The session to resume with at an origin. HEAD answers the same status with no body.",
      scope: "sessions",
      params: PeerParams,
      responses: { 200: { description: "the session", schema: ClientSession } },
      errors: [...STORE_ERRORS, "invalid_peer", "session_not_found"],
      head: (c, { params: { peer } }) => requireNamed(c, "client", peer),
    },
    async (c, { params: { peer } }) => ({ status: 200, body: clientSession(peer, await getNamed(c, "client", peer)) }),
  ),
  route(
    {
      method: "delete",
      path: "/v1/client-sessions/:peer{.+}",
      summary: "Forget the session for an origin. Idempotent, never refused.",
      scope: "sessions",
      params: PeerParams,
      responses: PURGED,
      errors: ["cache_disabled", "invalid_peer"],
    },
    async (c, { params: { peer } }) => purged(await storeFor(c, "client").remove("client", peer, c.var.services.now(), deferTo(c))),
  ),
];
