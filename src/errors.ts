/**
 * Every error the service raises, in one module that every layer imports
 * (routes, stores, the ring, auth, config): the stable codes with what each
 * means, and the error classes. It imports nothing but types, so it can sit
 * under every layer without a cycle. How each code is answered over HTTP
 * (its status, the JSON) is src/http/errors.ts's; the runtime-agnostic
 * core keeps its own ResumptionError (src/core/errors.ts), whose codes are
 * among these.
 */
import type { CoreErrorCode } from "./core/errors.js";

/** Each code and what it means (the API document lists them per route). */
export const ERROR_MEANINGS = {
  // Requests
  invalid_request: "a field is missing, of the wrong type or out of range (the message names it)",
  invalid_json: "the body is not valid JSON",
  invalid_session_id: "a session id is not 1 to 32 bytes of lowercase hex",
  session_invalid: "the session record is invalid (the message names each wrong field)",
  unauthorized: "no valid bearer token",
  forbidden: "the token lacks the scope this route needs",
  not_found: "no such route",
  method_not_allowed: "the route exists but not with this method",
  body_too_large: "the request body is over 64 KiB",
  unsupported_media_type: "the body is not application/json",
  invalid_peer: "a client-session peer is not host:port or host:port/sni in canonical form (docs/session-store.md)",
  // Callers' JWTs (JWT_ISSUERS; src/auth/jwt.ts). Messages never hold the token or its claims.
  token_malformed: "the JWT is not a compact JWS with a JSON header and claims",
  token_issuer_unknown: "no issuer configured for this header has the JWT's iss",
  token_algorithm_refused: "the JWT's alg is not one its issuer is configured with (alg none and HS* never are)",
  token_key_unknown: "no key of the issuer's JWKS matches the JWT's kid (and alg)",
  token_signature_invalid: "the JWT's signature does not verify: it was altered or signed with another key",
  token_expired: "the JWT's exp has passed, beyond the issuer's clock_tolerance",
  token_not_yet_valid: "the JWT's nbf or iat is in the future, beyond the issuer's clock_tolerance",
  token_audience_invalid: "the JWT's aud holds none of the issuer's configured audiences",
  token_claims_invalid: "a registered claim is missing or of the wrong type (exp is required: no permanent JWTs; jti too where the issuer refuses replays)",
  token_type_invalid: "the JWT's typ header is not the one its issuer is configured with (e.g. at+jwt)",
  token_replayed: "the JWT's jti was already used, and its issuer is configured to refuse replays (jti_replay)",
  token_not_granted: "the JWT is valid, but none of its issuer's grants gives it a context and a scope",
  jwks_unavailable: "the issuer's JWKS cannot be fetched or is invalid, so no JWT of it can be checked; retry after Retry-After",
  // The session store (docs/session-store.md)
  session_not_found: "no unexpired session is stored under this id (or peer) in this context",
  session_exists: "another session is already stored under this id in this context",
  session_taken: "this session was taken already (POST /v1/sessions/{id}/take): a session's secret is taken once under its id, also if it is stored again before it would have expired",
  cache_disabled: "the context's cache_mode has no cache of this kind (off, server-only or client-only)",
  write_rate_limited: "this key was written less than a second ago (KV takes one write per second per key); retry after Retry-After",
  // Tickets that cannot be resumed: for a TLS server, "do a full handshake".
  ticket_malformed: "the ticket is not a well-formed v1 ticket or JWE ticket (the message says what is wrong)",
  ticket_unsupported_version: "the ticket's format version is not supported",
  ticket_unsupported_algorithm: "a JWE ticket asks for other crypto than dir with A256GCM (another alg or enc, zip or crit): refused before any crypto",
  key_unknown: "the ticket's key is not (or no longer) in the ring, and no stored session answers for it",
  ticket_invalid: "the ticket failed authentication",
  ticket_expired: "the ticket's lifetime has ended",
  context_mismatch: "the ticket belongs to another context",
  ticket_replayed: "a single-use ticket was already opened somewhere in the fleet",
  ticket_age_mismatch: "the client's view of the ticket's age differs from the server's by more than the window (RFC 8446 8.3)",
  sni_mismatch: "the ticket's or session's server_name differs from the one requested",
  // The service itself
  key_invalid: "key material in the ring is unusable",
  replay_guard_unavailable: "the single-use record cannot be reached (or, for JWT ids, this isolate's is full): a single-use ticket or JWT is refused, never accepted twice",
  keyring_unavailable: "the key ring cannot be reached and no cached key may encrypt",
  config_invalid: "the service's settings are invalid (the message names the setting)",
  id_generation_failed: "no unused session id was found in 10 attempts (an id_prefix as long as id_length leaves one id)",
  store_unavailable: "the session store (KV) failed; nothing was written; retry after Retry-After",
  internal_error: "an unexpected failure; details are in the logs, not the response",
} as const satisfies Record<string, string>;

export type ErrorCode = keyof typeof ERROR_MEANINGS;

// Every core code is a service code: this line fails to compile otherwise.
const _coreCodesKnown: Record<CoreErrorCode, unknown> = ERROR_MEANINGS;
void _coreCodesKnown;

/** A failure with a stable code, raised anywhere in the service; src/http/errors.ts turns it into an answer. */
export class ServiceError extends Error {
  override readonly name = "ServiceError";
  readonly headers: Record<string, string>;
  readonly field: string | undefined;
  /** Figures the caller may act on (e.g. the measured ticket-age skew); never secrets. */
  readonly details: Record<string, number | string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options: { headers?: Record<string, string>; field?: string; details?: Record<string, number | string> } = {},
  ) {
    super(message);
    this.headers = options.headers ?? {};
    this.field = options.field;
    this.details = options.details;
  }
}

/** A setting that does not parse (src/config.ts, src/auth/issuers.ts): answered as 503 config_invalid, naming the setting. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  readonly code = "config_invalid";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(`${setting}: ${message}`);
  }
}
