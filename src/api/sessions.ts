/**
 * The session store routes' contract (docs/session-store.md): path
 * parameters, bodies and answers as schemas that validate requests, document
 * the API, type the handlers' answers and the typed client's results; and
 * the one place each answer is built from a stored record, for HTTP and RPC.
 */
import { SESSION_LIMITS, sessionToJson, type SessionJson } from "../core/index.js";
import { ServiceError } from "../errors.js";
import { checked, integer, object, optional, typed, type Infer } from "../http/schema.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";
import { parsePeer } from "../store/peer.js";
import type { StoredRecord } from "../store/records.js";

/** 1 to 32 bytes as lowercase hex: the only spelling of a session id. */
export const SESSION_ID_PATTERN = /^(?:[0-9a-f]{2}){1,32}$/;

/** A session id in a path or an RPC argument: anything else is 400 invalid_session_id. */
export const sessionIdField = checked<string>(
  { type: "string", pattern: SESSION_ID_PATTERN.source, description: "session id: 1 to 32 bytes, lowercase hex" },
  (v) => {
    if (typeof v !== "string" || !SESSION_ID_PATTERN.test(v)) throw new ServiceError("invalid_session_id", "a session id is 1 to 32 bytes of lowercase hex");
    return v;
  },
);

/** An origin in a path: host:port, plus /sni when the SNI differs from the host; anything else is 400 invalid_peer. */
const peerField = checked<string>(
  { type: "string", description: "the origin: host:port, plus /sni when the SNI differs from the host (docs/session-store.md)" },
  (v) => {
    const parsed = parsePeer(typeof v === "string" ? v : "");
    if (typeof parsed === "string") throw new ServiceError("invalid_peer", `peer ${parsed}`);
    return v as string;
  },
);

export const SessionIdParams = object({ id: sessionIdField });
export const PeerParams = object({ peer: peerField });

export const StoreSessionBody = object({
  session: typed<SessionJson>(SESSION_JSON_SCHEMA),
  timeout: optional(
    integer(1, SESSION_LIMITS.maxTimeout, "seconds the session may be resumed for; overrides session.timeout, which overrides the context's session_timeout"),
  ),
});

export const FlushBody = object({
  before: optional(
    integer(0, SESSION_LIMITS.maxCreatedAt, "unix seconds: remove the sessions expired at this time (default now); 0 removes every session"),
  ),
});

const unixSeconds = () => integer(0, Number.MAX_SAFE_INTEGER, "unix seconds");
const times = { created_at: unixSeconds(), expires_at: unixSeconds() };

export const StoredSessionInfo = object({ session_id: sessionIdField, ...times });
export const StoredSession = object({ session: typed<SessionJson>(SESSION_JSON_SCHEMA), session_id: sessionIdField, ...times });
export const ClientSessionInfo = object({ peer: peerField, ...times });
export const ClientSession = object({ session: typed<SessionJson>(SESSION_JSON_SCHEMA), peer: peerField, ...times });
export const FlushResult = object({ flushed: integer(0, Number.MAX_SAFE_INTEGER, "how many were removed") });
/** GET /v1/stats: one isolate's SSL_CTX_sess_* counters for the caller's context (the fields are OpenSSL's names). */
export const SessionStats = typed<{ context: string; scope: string; now: number } & Record<string, unknown>>({
  type: "object",
  description: "counters named as OpenSSL names them",
});

export type StoreSessionRequest = Infer<typeof StoreSessionBody>;
export type StoredSessionInfoAnswer = Infer<typeof StoredSessionInfo>;
export type StoredSessionAnswer = Infer<typeof StoredSession>;
export type ClientSessionInfoAnswer = Infer<typeof ClientSessionInfo>;
export type ClientSessionAnswer = Infer<typeof ClientSession>;
export type FlushAnswer = Infer<typeof FlushResult>;
export type SessionStatsAnswer = Infer<typeof SessionStats>;

const timesOf = (r: StoredRecord) => ({ created_at: r.createdAt, expires_at: r.expiresAt });

export const storedSessionInfo = (id: string, r: StoredRecord): StoredSessionInfoAnswer => ({ session_id: id, ...timesOf(r) });
export const storedSession = (id: string, r: StoredRecord): StoredSessionAnswer => ({ session: sessionToJson(r.session), session_id: id, ...timesOf(r) });
export const clientSessionInfo = (peer: string, r: StoredRecord): ClientSessionInfoAnswer => ({ peer, ...timesOf(r) });
export const clientSession = (peer: string, r: StoredRecord): ClientSessionAnswer => ({ session: sessionToJson(r.session), peer, ...timesOf(r) });
