/**
 * A session presented for storing (PUT /v1/sessions/{id}, POST /v1/sessions,
 * the client-session routes, RPC putSession), made into the session and the
 * times its record keeps.
 */
import { parseSession, ResumptionError, type SessionJson } from "../core/index.js";
import type { ContextSettings } from "../config.js";
import type { RecordTimes } from "./records.js";

/**
 * The session and its times. Timeout precedence: the request's timeout, then
 * the session's own timeout field, then the context's session_timeout. The
 * timeout counts from the session's created_at (as OpenSSL counts from the
 * session's time), clamped to now; the stored session carries the effective
 * values, so its created_at + timeout is its expires_at.
 */
export function sessionWithTimes(request: { session: SessionJson; timeout?: number }, settings: ContextSettings, now: number) {
  const session = parseSession(request.session, { now, timeout: settings.session_timeout });
  const timeout = request.timeout ?? session.timeout;
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
