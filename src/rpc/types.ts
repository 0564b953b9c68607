/**
 * What the Service Binding entrypoint (src/rpc/) answers: the same shapes as
 * the HTTP API's JSON (binary fields base64url, session ids lowercase hex),
 * each inside a result, so a calling Worker can move between the typed
 * client and the binding without translating anything.
 *
 * Errors come back as values, not thrown: Workers RPC keeps only the
 * message and name of a thrown Error (its own properties, such as a code,
 * are dropped), and a code is what a caller acts on.
 */
import type { ErrorCode } from "../errors.js";
import type { OpenedTicketAnswer as OpenedTicket, OpenTicketRequest as OpenTicketJson, SealedTicketAnswer as SealedTicket, SealTicketRequest } from "../api/tickets.js";
import type { StoredSessionAnswer as StoredSession, StoredSessionInfoAnswer as StoredSessionInfo, StoreSessionRequest } from "../api/sessions.js";

export type { OpenedTicket, SealTicketRequest, SealedTicket, StoredSession, StoredSessionInfo, StoreSessionRequest };

/** A refusal or failure, with the stable code of src/http/errors.ts and the HTTP status the same error has. */
export interface RpcError {
  code: ErrorCode;
  message: string;
  status: number;
  /** The request field at fault, when one is. */
  field?: string;
  /** Figures the caller may act on (e.g. the measured ticket-age skew); never secrets. */
  details?: Record<string, number | string>;
  /** Seconds to wait before trying again (HTTP's Retry-After). */
  retry_after?: number;
}

export type RpcResult<T> = { ok: true; value: T } | { ok: false; error: RpcError };

/** POST /v1/tickets/open's body; a terminator Worker may hand the binary ticket's bytes as they are. */
export type OpenTicketRequest = Omit<OpenTicketJson, "ticket"> & { ticket: string | Uint8Array };

/** POST /v1/tickets/open's answer. */
export type RpcOpenedTicket = OpenedTicket;

/** DELETE /v1/sessions/{id}'s answer: 204 is "removed", 202 "pending" (gone from this isolate; KV takes the delete within 2 s). */
export interface DeletedSession {
  outcome: "removed" | "pending";
}

/** The entrypoint's methods, as a calling Worker sees them (`env.RESUMPTION.openTicket(...)`). */
export interface ResumptionRpc {
  sealTicket(token: string, request: SealTicketRequest): Promise<RpcResult<SealedTicket>>;
  openTicket(token: string, request: OpenTicketRequest): Promise<RpcResult<RpcOpenedTicket>>;
  putSession(token: string, id: string, request: StoreSessionRequest): Promise<RpcResult<StoredSessionInfo>>;
  getSession(token: string, id: string): Promise<RpcResult<StoredSession>>;
  deleteSession(token: string, id: string): Promise<RpcResult<DeletedSession>>;
}
