/**
 * Sealing a session into a ticket under the ring's active key, as a binary
 * ticket (src/core/ticket.ts, for TLS) or a compact JWE (./jwe.ts, for
 * applications with a JOSE library), and with `store: true` its copy for
 * the store fallback (src/store/ticket-copies.ts). POST /v1/tickets only
 * turns the result into JSON.
 */
import { decodeHex, encodeBase64url, parseSession, ResumptionError, sealTicket, type Bytes } from "../core/index.js";
import { MAX_TICKET_LIFETIME, type ContextSettings } from "../config.js";
import { ServiceError } from "../errors.js";
import type { KeyRingReader } from "../keyring/reader.js";
import type { SessionStore } from "../store/session-store.js";
import { ticketDigest, type TicketCopies } from "../store/ticket-copies.js";
import { liveSessionTimes } from "../store/session-times.js";
import { ticketName } from "./identity.js";
import { MAX_TICKET_CHARS, sealJweTicket } from "./jwe.js";
import { readTicket, type TicketFormat } from "./open.js";
import { regionCode, type Region } from "../replay/regions.js";

export interface SealServices {
  keyRing: Pick<KeyRingReader, "sealingKey">;
  /** This isolate's replay-guard region: sealed into the ticket, so its one use is judged near where it was issued. */
  region: Region | undefined;
  ticketCopies: Pick<TicketCopies, "put">;
  sessions: Pick<SessionStore, "context">;
  /** Unix seconds. */
  now(): number;
}

export interface SealRequest {
  /** The session as the API's JSON; validated here. */
  session: unknown;
  /** Seconds; capped by the context's ticket_lifetime, RFC 8446's 7 days and the key's remaining life. */
  lifetime?: number | undefined;
  single_use?: boolean | undefined;
  store?: boolean | undefined;
  format?: TicketFormat | undefined;
}

export interface SealResult {
  /** Binary: base64url without padding; JWE: compact serialization. */
  ticket: string;
  format: TicketFormat;
  sessionId: Bytes;
  keyId: number;
  issuedAt: number;
  expiresAt: number;
  /** Seconds: what the service will honour (the NewSessionTicket lifetime hint). */
  lifetime: number;
}

export async function sealPresentedSession(
  services: SealServices,
  settings: ContextSettings,
  request: SealRequest,
  defer?: (p: Promise<unknown>) => void,
): Promise<SealResult> {
  const now = services.now();
  // Before any work: a context without a server-side store keeps no copies.
  if (request.store === true) services.sessions.context(settings.name).require("server");
  const key = await services.keyRing.sealingKey(settings.name, now, defer);
  // Never promise more than the service will honour: the context's limit,
  // RFC 8446's 7 days, and the sealing key's own remaining life (so a
  // ticket never outlives its key: only a revoke leaves one without it).
  const keyLifetime = Math.min(request.lifetime ?? settings.ticket_lifetime, settings.ticket_lifetime, MAX_TICKET_LIFETIME, key.times.expires_at - now);
  const session = parseSession(request.session, { now, timeout: keyLifetime }, "session", ["session_id"]);
  // The session's own end, as the store judges it (OpenSSL does not resume
  // a timed-out session from a ticket either): an ended session is refused,
  // a future created_at is now, and the ticket lives no longer than the
  // session (OpenSSL's lifetime hint is the session's timeout too).
  const { createdAt, expiresAt: sessionEnd } = liveSessionTimes(session.created_at, session.timeout, now);
  session.created_at = createdAt;
  const lifetime = Math.min(keyLifetime, sessionEnd - now);
  const sessionId = sessionIdFrom(request.session) ?? crypto.getRandomValues(new Uint8Array(32));
  const format = request.format ?? "binary";
  const singleUse = request.single_use === true;
  const region = regionCode(services.region);
  const input = {
    session,
    sessionId,
    withLookupId: request.store === true,
    issuedAt: now,
    lifetime,
    singleUse,
    region,
    context: settings.name,
    keyId: key.times.id,
    key: await key.subkey,
  };
  const ticket = format === "jwe" ? await sealJweTicket(input) : encodeBase64url(await sealTicket(input));
  // Every ticket issued is one the open route can take (the JWE sealer checks its own).
  if (ticket.length > MAX_TICKET_CHARS) {
    throw new ResumptionError("session_invalid", `the session is too large for a ticket that can be opened (${ticket.length} > ${MAX_TICKET_CHARS} characters)`, "session");
  }
  if (request.store === true) {
    // The fallback for when a revoke destroys the ticket's key: the session,
    // bound to this exact ticket, expiring with it. The ticket is read back
    // as the open path reads it, so both name and digest it alike. A failure
    // here issues no ticket.
    const { header, bytes } = readTicket(ticket);
    await services.ticketCopies.put(settings.name, ticketName(header), await ticketDigest(bytes), session, { issuedAt: now, expiresAt: now + lifetime, singleUse, region }, now);
  }
  return { ticket, format, sessionId, keyId: key.times.id, issuedAt: now, expiresAt: now + lifetime, lifetime };
}

function sessionIdFrom(session: unknown): Uint8Array<ArrayBuffer> | undefined {
  const raw = (session as Record<string, unknown> | null)?.session_id;
  if (raw === undefined) return undefined;
  const id = typeof raw === "string" && raw.length <= 64 ? decodeHex(raw) : undefined;
  if (!id || id.length === 0) throw new ServiceError("invalid_session_id", "session.session_id must be 1 to 32 bytes of lowercase hex", { field: "session.session_id" });
  return id;
}
