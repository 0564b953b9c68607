/**
 * Every error the API answers with, in one table: its stable code, its HTTP
 * status and what it means. Responses are {"error": {"code", "message"}} and
 * never carry a stack trace, key material or a secret.
 */
import { isResumptionError, type CoreErrorCode } from "../core/index.js";

export const ERRORS = {
  // Requests
  invalid_request: { status: 400, meaning: "a field is missing, of the wrong type or out of range (the message names it)" },
  invalid_json: { status: 400, meaning: "the body is not valid JSON" },
  invalid_session_id: { status: 400, meaning: "a session id is not 1 to 32 bytes of lowercase hex" },
  session_invalid: { status: 400, meaning: "the session record is invalid (the message names each wrong field)" },
  unauthorized: { status: 401, meaning: "no valid bearer token" },
  forbidden: { status: 403, meaning: "the token lacks the scope this route needs" },
  not_found: { status: 404, meaning: "no such route" },
  method_not_allowed: { status: 405, meaning: "the route exists but not with this method" },
  body_too_large: { status: 413, meaning: "the request body is over 64 KiB" },
  unsupported_media_type: { status: 415, meaning: "the body is not application/json" },
  invalid_peer: { status: 400, meaning: "a client-session peer is not host:port or host:port/sni in canonical form (docs/session-store.md)" },
  // Callers' JWTs (JWT_ISSUERS; src/auth/jwt.ts). Messages never hold the token or its claims.
  token_malformed: { status: 401, meaning: "the JWT is not a compact JWS with a JSON header and claims" },
  token_issuer_unknown: { status: 401, meaning: "no issuer configured for this header has the JWT's iss" },
  token_algorithm_refused: { status: 401, meaning: "the JWT's alg is not one its issuer is configured with (alg none and HS* never are)" },
  token_key_unknown: { status: 401, meaning: "no key of the issuer's JWKS matches the JWT's kid (and alg)" },
  token_signature_invalid: { status: 401, meaning: "the JWT's signature does not verify: it was altered or signed with another key" },
  token_expired: { status: 401, meaning: "the JWT's exp has passed, beyond the issuer's clock_tolerance" },
  token_not_yet_valid: { status: 401, meaning: "the JWT's nbf or iat is in the future, beyond the issuer's clock_tolerance" },
  token_audience_invalid: { status: 401, meaning: "the JWT's aud holds none of the issuer's configured audiences" },
  token_claims_invalid: { status: 401, meaning: "a registered claim is missing or of the wrong type (exp is required: no permanent JWTs; jti too where the issuer refuses replays)" },
  token_type_invalid: { status: 401, meaning: "the JWT's typ header is not the one its issuer is configured with (e.g. at+jwt)" },
  token_replayed: { status: 401, meaning: "the JWT's jti was already used, and its issuer is configured to refuse replays (jti_replay)" },
  token_not_granted: { status: 403, meaning: "the JWT is valid, but none of its issuer's grants gives it a context and a scope" },
  jwks_unavailable: { status: 503, meaning: "the issuer's JWKS cannot be fetched or is invalid, so no JWT of it can be checked; retry after Retry-After" },
  // The session store (docs/session-store.md)
  session_not_found: { status: 404, meaning: "no unexpired session is stored under this id (or peer) in this context" },
  session_exists: { status: 409, meaning: "another session is already stored under this id in this context" },
  session_taken: { status: 409, meaning: "this session was taken already (POST /v1/sessions/{id}/take): a session's secret is taken once under its id, also if it is stored again before it would have expired" },
  cache_disabled: { status: 409, meaning: "the context's cache_mode has no cache of this kind (off, server-only or client-only)" },
  write_rate_limited: { status: 429, meaning: "this key was written less than a second ago (KV takes one write per second per key); retry after Retry-After" },
  // Tickets that cannot be resumed: for a TLS server, "do a full handshake".
  ticket_malformed: { status: 422, meaning: "the ticket is not a well-formed v1 ticket or JWE ticket (the message says what is wrong)" },
  ticket_unsupported_version: { status: 422, meaning: "the ticket's format version is not supported" },
  ticket_unsupported_algorithm: { status: 422, meaning: "a JWE ticket asks for other crypto than dir with A256GCM (another alg or enc, zip or crit): refused before any crypto" },
  key_unknown: { status: 422, meaning: "the ticket's key is not (or no longer) in the ring, and no stored session answers for it" },
  ticket_invalid: { status: 422, meaning: "the ticket failed authentication" },
  ticket_expired: { status: 422, meaning: "the ticket's lifetime has ended" },
  context_mismatch: { status: 422, meaning: "the ticket belongs to another context" },
  ticket_replayed: { status: 422, meaning: "a single-use ticket was already opened somewhere in the fleet" },
  ticket_age_mismatch: { status: 422, meaning: "the client's view of the ticket's age differs from the server's by more than the window (RFC 8446 8.3)" },
  sni_mismatch: { status: 422, meaning: "the ticket's or session's server_name differs from the one requested" },
  // The service itself
  key_invalid: { status: 500, meaning: "key material in the ring is unusable" },
  replay_guard_unavailable: { status: 503, meaning: "the single-use record cannot be reached (or, for JWT ids, this isolate's is full): a single-use ticket or JWT is refused, never accepted twice" },
  keyring_unavailable: { status: 503, meaning: "the key ring cannot be reached and no cached key may encrypt" },
  config_invalid: { status: 503, meaning: "the service's settings are invalid (the message names the setting)" },
  id_generation_failed: { status: 503, meaning: "no unused session id was found in 10 attempts (an id_prefix as long as id_length leaves one id)" },
  store_unavailable: { status: 503, meaning: "the session store (KV) failed; nothing was written; retry after Retry-After" },
  internal_error: { status: 500, meaning: "an unexpected failure; details are in the logs, not the response" },
} as const satisfies Record<string, { status: number; meaning: string }>;

export type ErrorCode = keyof typeof ERRORS;

// Every core code must have an HTTP mapping: this line fails to compile otherwise.
const _coreCodesMapped: Record<CoreErrorCode, unknown> = ERRORS;
void _coreCodesMapped;

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

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string; details?: Record<string, number | string> };
}

/** Maps any thrown value to a status and body; unknown errors become a bare internal_error. */
export function describeError(err: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
  if (err instanceof ServiceError) {
    const error: ErrorBody["error"] = { code: err.code, message: err.message };
    if (err.field) error.field = err.field;
    if (err.details) error.details = err.details;
    return { status: err.status, body: { error }, headers: err.headers };
  }
  if (isResumptionError(err)) {
    const error: ErrorBody["error"] = { code: err.code, message: err.message };
    if (err.field) error.field = err.field;
    return { status: ERRORS[err.code].status, body: { error }, headers: {} };
  }
  if (err instanceof Error && err.name === "ConfigError") {
    return { status: 503, body: { error: { code: "config_invalid", message: err.message } }, headers: {} };
  }
  return { status: 500, body: { error: { code: "internal_error", message: "internal error" } }, headers: {} };
}

export function errorResponse(err: unknown): Response {
  const { status, body, headers } = describeError(err);
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}
