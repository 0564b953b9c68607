/**
 * How every error is answered over HTTP: its status, and the body
 * {"error": {"code", "message", "field"?, "details"?}}, which never carries
 * a stack trace, key material or a secret. The codes and the error classes
 * are src/errors.ts's.
 */
import { isResumptionError } from "../core/index.js";
import { ConfigError, ServiceError, type ErrorCode } from "../errors.js";

const STATUS = {
  invalid_request: 400,
  invalid_json: 400,
  invalid_session_id: 400,
  session_invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  body_too_large: 413,
  unsupported_media_type: 415,
  invalid_peer: 400,
  token_malformed: 401,
  token_issuer_unknown: 401,
  token_algorithm_refused: 401,
  token_key_unknown: 401,
  token_signature_invalid: 401,
  token_expired: 401,
  token_not_yet_valid: 401,
  token_audience_invalid: 401,
  token_claims_invalid: 401,
  token_type_invalid: 401,
  token_replayed: 401,
  token_not_granted: 403,
  jwks_unavailable: 503,
  session_not_found: 404,
  session_exists: 409,
  session_taken: 409,
  cache_disabled: 409,
  write_rate_limited: 429,
  ticket_malformed: 422,
  ticket_unsupported_version: 422,
  ticket_unsupported_algorithm: 422,
  key_unknown: 422,
  ticket_invalid: 422,
  ticket_expired: 422,
  context_mismatch: 422,
  ticket_replayed: 422,
  ticket_age_mismatch: 422,
  sni_mismatch: 422,
  key_invalid: 500,
  replay_guard_unavailable: 503,
  keyring_unavailable: 503,
  config_invalid: 503,
  id_generation_failed: 503,
  store_unavailable: 503,
  internal_error: 500,
} as const satisfies Record<ErrorCode, number>;

export function statusOf(code: ErrorCode): number {
  return STATUS[code];
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
    return { status: statusOf(err.code), body: { error }, headers: err.headers };
  }
  if (isResumptionError(err)) {
    const error: ErrorBody["error"] = { code: err.code, message: err.message };
    if (err.field) error.field = err.field;
    return { status: statusOf(err.code), body: { error }, headers: {} };
  }
  if (err instanceof ConfigError) {
    return { status: statusOf("config_invalid"), body: { error: { code: "config_invalid", message: err.message } }, headers: {} };
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
