/**
 * The API's request and response shapes, as the client sees them. Binary
 * fields are base64url without padding; session ids are lowercase hex.
 */
import type { SessionJson } from "../core/session.js";
import type { StekExport, StekFormat } from "../keyring/export.js";
import type { JwkExport, TicketJwk } from "../keyring/jwk.js";

export type { JwkExport, SessionJson, StekExport, StekFormat, TicketJwk };

/** binary: the TLS ticket (smallest, fastest); jwe: a compact JWE an application opens with the exported JWK Set. */
export type TicketFormat = "binary" | "jwe";

/** A session id: lowercase hex, or its bytes (a Node Buffer is a Uint8Array). */
export type SessionId = string | Uint8Array;

export type KeyState = "pending" | "active" | "retiring" | "destroyed";

// Tickets

export interface SealTicketRequest {
  /** The session; session_id (hex) is optional, a random 32-byte id is used without it. */
  session: SessionJson & { session_id?: string };
  /** Seconds; capped by the context's ticket_lifetime and the sealing key's remaining life. */
  lifetime?: number;
  /** The ticket opens once, fleet-wide. */
  single_use?: boolean;
  /** Also store the session under its id, the fallback when the ticket's key is gone. */
  store?: boolean;
  /** binary by default. */
  format?: TicketFormat;
}

export interface SealedTicket {
  /** binary: base64url of the ticket bytes; jwe: the compact JWE. */
  ticket: string;
  format: TicketFormat;
  session_id: string;
  key_id: number;
  issued_at: number;
  expires_at: number;
  /** What the service will honour: send it as the ticket_lifetime_hint. */
  lifetime_hint: number;
}

export interface OpenTicketOptions {
  /** SNI of the resuming connection, checked against the session's. */
  server_name?: string;
  /** TLS 1.3's obfuscated_ticket_age, checked against the ticket's age. */
  obfuscated_ticket_age?: number;
}

export interface OpenedTicket {
  session: SessionJson;
  session_id: string;
  format: TicketFormat;
  key_id: number;
  issued_at: number;
  expires_at: number;
  /** The key no longer encrypts: issue a fresh ticket (OpenSSL's ticket callback returns 2). */
  renew: boolean;
  source: "ticket" | "store";
}

/** GET /healthz. */
export interface Health {
  status: "ok";
}

// Keys

export interface KeyInfo {
  id: number;
  state: KeyState;
  published_at: number;
  activates_at: number;
  deactivates_at: number;
  expires_at: number;
}

export interface KeyRingState {
  now: number;
  keys: KeyInfo[];
  settings: { rotation_period: number; prepublish_lead: number; max_ticket_lifetime: number; cache_ttl: number; peak_seal_rate: number };
}

export interface RotateResult {
  now: number;
  /** When the successor starts (or started) encrypting. */
  activates_at: number;
  revoked: number[];
  keys: KeyInfo[];
}

// Sessions

export interface StoreSessionOptions {
  /** Seconds the session may be resumed for: overrides session.timeout and the context's session_timeout. */
  timeout?: number;
}

export interface StoredSessionInfo {
  session_id: string;
  created_at: number;
  expires_at: number;
}

export interface StoredSession extends StoredSessionInfo {
  session: SessionJson;
}

export interface ClientSessionInfo {
  /** host:port or host:port/sni, in canonical form (docs/session-store.md). */
  peer: string;
  created_at: number;
  expires_at: number;
}

export interface ClientSession extends ClientSessionInfo {
  session: SessionJson;
}

export interface FlushResult {
  flushed: number;
}

/** GET /v1/stats: one isolate's SSL_CTX_sess_* counters for the caller's context. */
export type SessionStats = { context: string; scope: string; now: number } & Record<string, unknown>;
