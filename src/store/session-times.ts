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
 * session's time), clamped to now (liveSessionTimes); the stored session
 * carries the effective values, so its created_at + timeout is its
 * expires_at.
 */
export function sessionWithTimes(request: { session: SessionJson; timeout?: number }, settings: ContextSettings, now: number) {
  const session = parseSession(request.session, { now, timeout: settings.session_timeout });
  const timeout = request.timeout ?? session.timeout;
  const { createdAt, expiresAt } = liveSessionTimes(session.created_at, timeout, now);
  session.created_at = createdAt;
  session.timeout = timeout;
  const times: RecordTimes = { createdAt, expiresAt, timeout };
  return { session, times };
}

/**
 * A session's times as every route that keeps or seals one judges them: a
 * created_at in the future is now, and the session ends at created_at +
 * timeout (OpenSSL's time + timeout); one that has ended already is refused
 * (session_invalid), whether it is to be stored or sealed into a ticket.
 */
export function liveSessionTimes(createdAt: number, timeout: number, now: number): { createdAt: number; expiresAt: number } {
  const clamped = Math.min(createdAt, now);
  const expiresAt = clamped + timeout;
  if (expiresAt <= now) {
    throw ResumptionError.fromIssues("session_invalid", [
      { field: "session.created_at", message: "created_at + timeout is already past: the session has expired" },
    ]);
  }
  return { createdAt: clamped, expiresAt };
}

/** True once a session has ended (created_at + timeout), e.g. one a ticket carries past its session's end. */
export const sessionEnded = (session: { created_at: number; timeout: number }, now: number): boolean => session.created_at + session.timeout <= now;
