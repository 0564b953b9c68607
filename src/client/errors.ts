import type { ErrorCode } from "../errors.js";

/**
 * Codes the client itself gives, besides the service's own (src/http/errors.ts):
 * - timeout: no answer within the call's timeout (a miss: do a full handshake);
 * - network_error: the request failed before any answer (refused, reset, DNS);
 * - aborted: the caller's AbortSignal fired;
 * - invalid_response: a 2xx whose body is not the JSON the route answers with;
 * - http_error: an error status without the service's error body (e.g. a proxy's 502 page);
 * - invalid_argument: the call was refused before any request (e.g. a malformed session id).
 */
export const CLIENT_ERROR_CODES = ["timeout", "network_error", "aborted", "invalid_response", "http_error", "invalid_argument"] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** Every code a failed call can carry: the service's stable codes and the client's own. */
export type ResultErrorCode = ErrorCode | ClientErrorCode;

/**
 * A failed call. Callers switch on `code` (stable), never on `message`.
 * `status` is the HTTP status when the service answered, undefined otherwise.
 */
export class ClientError extends Error {
  override readonly name = "ClientError";
  readonly status: number | undefined;
  readonly field: string | undefined;
  /** Requests sent for this call, retries included (0 when refused before sending). */
  readonly attempts: number;
  /** Seconds the service asked to wait before retrying (Retry-After, e.g. with write_rate_limited), if it said. */
  readonly retryAfter: number | undefined;

  constructor(
    readonly code: ResultErrorCode,
    message: string,
    options: { status?: number; field?: string; attempts?: number; retryAfter?: number } = {},
  ) {
    super(message);
    this.status = options.status;
    this.field = options.field;
    this.attempts = options.attempts ?? 0;
    this.retryAfter = options.retryAfter;
  }

  /**
   * The service did not answer in time or could not be reached: for a TLS
   * server, a full handshake (or a session not stored), and something to
   * count, not to crash on.
   */
  get unavailable(): boolean {
    return this.code === "timeout" || this.code === "network_error" || this.code === "http_error" || (this.status !== undefined && this.status >= 500);
  }
}

export function isClientError(e: unknown): e is ClientError {
  return e instanceof ClientError;
}
