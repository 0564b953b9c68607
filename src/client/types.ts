/**
 * The API's request and response shapes, as the client sees them. Binary
 * fields are base64url without padding; session ids are lowercase hex.
 *
 * Every shape here is derived from the schema the service validates and
 * answers with (src/api/), so the client cannot drift from the routes: a
 * field added to an answer appears here, typed, by construction. The field
 * descriptions live in those schemas (and in the OpenAPI document, GET
 * /openapi.json). Type-only imports: nothing of the service enters the
 * client bundle.
 */
import type { SealTicketRequest, SealedTicketAnswer, OpenedTicketAnswer, OpenTicketRequest } from "../api/tickets.js";
import type {
  ClientSessionAnswer,
  ClientSessionInfoAnswer,
  FlushAnswer,
  SessionStatsAnswer,
  StoredSessionAnswer,
  StoredSessionInfoAnswer,
  StoreSessionRequest,
} from "../api/sessions.js";
import type { KeyInfoAnswer, KeyRingStateAnswer, RotateAnswer } from "../api/keys.js";
import type { HealthAnswer } from "../api/health.js";
import type { SessionJson } from "../core/session.js";
import type { StekExport, StekFormat } from "../keyring/export.js";
import type { JwkExport, TicketJwk } from "../keyring/jwk.js";

export type { JwkExport, SessionJson, StekExport, StekFormat, TicketJwk, SealTicketRequest };

/** binary: the TLS ticket (smallest, fastest); jwe: a compact JWE an application opens with the exported JWK Set. */
export type TicketFormat = SealedTicketAnswer["format"];

/** A session id: lowercase hex, or its bytes (a Node Buffer is a Uint8Array). */
export type SessionId = string | Uint8Array;

export type KeyState = KeyInfoAnswer["state"];

// Tickets

export type SealedTicket = SealedTicketAnswer;
/** openTicket's options: everything POST /v1/tickets/open takes besides the ticket. */
export type OpenTicketOptions = Omit<OpenTicketRequest, "ticket">;
export type OpenedTicket = OpenedTicketAnswer;
export type TicketAge = NonNullable<OpenedTicketAnswer["ticket_age"]>;

/** GET /healthz. */
export type Health = HealthAnswer;

// Keys

export type KeyInfo = KeyInfoAnswer;
export type KeyRingState = KeyRingStateAnswer;
export type RotateResult = RotateAnswer;

// Sessions

/** putSession's options: everything PUT /v1/sessions/{id} takes besides the session. */
export type StoreSessionOptions = Omit<StoreSessionRequest, "session">;
export type StoredSessionInfo = StoredSessionInfoAnswer;
export type StoredSession = StoredSessionAnswer;
export type ClientSessionInfo = ClientSessionInfoAnswer;
export type ClientSession = ClientSessionAnswer;
export type FlushResult = FlushAnswer;
/** GET /v1/stats: one isolate's SSL_CTX_sess_* counters for the caller's context. */
export type SessionStats = SessionStatsAnswer;
