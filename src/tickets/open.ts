/**
 * Opening a presented ticket, of either format, to one answer: the ticket's
 * own session (source "ticket"), or, for a `store: true` ticket whose key a
 * revoke destroyed, the copy stored for that very ticket (source "store");
 * then the checks every resumption passes (server name, ticket age) and,
 * last, single use. POST /v1/tickets/open only turns the result into JSON.
 *
 * Nothing in a ticket's clear header is trusted before it is authenticated:
 * on the ticket path AES-GCM authenticates the header (it is the AAD); on
 * the store path the copy is found by the header's key id and nonce and
 * answers only if the presented bytes hash to the digest sealed with it.
 * The store path runs only for a key id the ring says was revoked while its
 * tickets could live, so made-up key ids cost no KV read.
 *
 * Cost of a ticket that does not open: parsing, at most one AES-GCM
 * decryption, and for a revoked key id with a lookup id one KV read.
 */
import {
  decodeBase64url,
  KeyUnknownError,
  openTicket,
  parseTicketHeader,
  ResumptionError,
  utf8,
  type Bytes,
  type OpenedTicket,
  type OpenOptions,
  type Session,
} from "../core/index.js";
import type { ContextSettings } from "../config.js";
import { ServiceError } from "../errors.js";
import type { KeyRingReader } from "../keyring/reader.js";
import { keyState, type KeyTimes } from "../keyring/schedule.js";
import type { ReplayGuard } from "../replay/guard.js";
import type { SessionStore } from "../store/session-store.js";
import type { TicketCopies } from "../store/ticket-copies.js";
import { sessionEnded } from "../store/session-times.js";
import { regionOfCode } from "../replay/regions.js";
import { ticketName, ticketUseId, type TicketIdentity } from "./identity.js";
import { isJweTicket, openJweTicket, parseJweHeader } from "./jwe.js";

export const TICKET_FORMATS = ["binary", "jwe"] as const;
export type TicketFormat = (typeof TICKET_FORMATS)[number];

/** What opening needs of the isolate's services (src/services.ts provides them; tests and the fuzzer pass their own). */
export interface OpenServices {
  keyRing: Pick<KeyRingReader, "decryptingKey" | "openingKeys" | "wasRevoked">;
  ticketCopies: Pick<TicketCopies, "find" | "remove">;
  sessions: Pick<SessionStore, "context">;
  replayGuard: Pick<ReplayGuard, "consume">;
  /** Unix seconds. */
  now(): number;
  /** Milliseconds, for ticket ages. */
  nowMs(): number;
}

export interface OpenRequest {
  /** A binary ticket as base64url without padding, or a compact JWE. */
  ticket: string;
  /** The SNI of the resuming ClientHello. */
  server_name?: string | undefined;
  /** RFC 8446 4.2.11's obfuscated_ticket_age, from the ClientHello. */
  obfuscated_ticket_age?: number | undefined;
}

export interface TicketAge {
  /** The client's view: (obfuscated_ticket_age - ticket_age_add) mod 2^32, in ms. */
  client_ms: number;
  /** The server's view: now - issued_at, in ms. */
  server_ms: number;
  /** client_ms - server_ms: how far the client's clock and path disagree. */
  skew_ms: number;
  window_ms: number;
}

/** A ticket that may be resumed, with everything the answer says about it. */
export interface OpenResult {
  session: Session;
  sessionId: Bytes;
  format: TicketFormat;
  keyId: number;
  issuedAt: number;
  expiresAt: number;
  singleUse: boolean;
  /** Present when the request carried obfuscated_ticket_age and the session ticket_age_add. */
  ticketAge: TicketAge | undefined;
  /** The key no longer encrypts: issue a fresh ticket (OpenSSL's ticket callback returning 2). */
  renew: boolean;
  /** store: the ticket's key was revoked and the session came from the ticket's stored copy. */
  source: "ticket" | "store";
}

/** The clear parts of a presented ticket, read without any crypto. */
export interface PresentedTicket {
  format: TicketFormat;
  /** Key id, nonce and (store: true tickets) the session id in clear. */
  header: TicketIdentity & { lookupId: Bytes | undefined };
  /** The exact bytes presented (a JWE's text as UTF-8): what a stored copy is bound to. */
  bytes: Bytes;
  open(options: OpenOptions): Promise<OpenedTicket>;
}

/** What the ticket or its stored copy says, before the resumption checks; `region`: where its one use is judged. */
type Found = Omit<OpenResult, "format" | "ticketAge"> & { region: number };

/**
 * Opens `request.ticket` for a caller of context `settings.name`; throws a
 * ResumptionError or ServiceError whose code says why it cannot be resumed.
 * `defer` keeps background work (a ring refresh, a used copy's removal)
 * alive past the answer.
 */
export async function openPresentedTicket(
  services: OpenServices,
  settings: ContextSettings,
  request: OpenRequest,
  defer?: (p: Promise<unknown>) => void,
): Promise<OpenResult> {
  const now = services.now();
  // Refuse garbage before any ring work.
  const ticket = readTicket(request.ticket);
  const times = await services.keyRing.decryptingKey(ticket.header.keyId, now, defer);
  const found = times ? await fromTicket(services, ticket, times, settings.name, now) : await fromStoredCopy(services, ticket, settings.name, now);
  // A ticket sealed elsewhere (an exported subkey's holder) may outlive its
  // session; the service's own never do. Either way an ended session does not resume.
  if (sessionEnded(found.session, now)) throw new ResumptionError("ticket_expired", "the session in the ticket has reached created_at + timeout");
  checkServerName(found.session, request.server_name);
  const ticketAge = checkTicketAge(found, request.obfuscated_ticket_age, services.nowMs(), settings.ticket_age_window);
  // Last, once every other check has passed, so a refused attempt does not
  // use the ticket up. Only single-use tickets pay for this call.
  if (found.singleUse) await useOnce(services, ticket, found, settings.name, now, defer);
  const { region: _region, ...answer } = found;
  return { ...answer, format: ticket.format, ticketAge };
}

/** Tells the formats apart (a compact JWE has dots, base64url none) and judges the clear parts before any crypto. */
export function readTicket(text: string): PresentedTicket {
  if (isJweTicket(text)) {
    const header = parseJweHeader(text);
    return { format: "jwe", header, bytes: utf8.encode(text), open: (options) => openJweTicket(text, options, header) };
  }
  const bytes = decodeBase64url(text);
  if (!bytes) throw new ResumptionError("ticket_malformed", "the ticket is not base64url without padding");
  const header = parseTicketHeader(bytes);
  return { format: "binary", header, bytes, open: (options) => openTicket(bytes, options, header) };
}

async function fromTicket(services: OpenServices, ticket: PresentedTicket, times: KeyTimes, context: string, now: number): Promise<Found> {
  const opened = await ticket.open({ context, now, keys: services.keyRing.openingKeys(times) });
  return {
    session: opened.session,
    sessionId: opened.sessionId,
    keyId: opened.keyId,
    issuedAt: opened.issuedAt,
    expiresAt: opened.expiresAt,
    singleUse: opened.singleUse,
    region: opened.region,
    renew: keyState(times, now) !== "active",
    source: "ticket",
  };
}

/**
 * The ticket's key is gone. A ticket's lifetime never exceeds its key's, so
 * only a revoke leaves live tickets without their key: for those, a
 * `store: true` ticket (one with a lookup id) may still resume from the
 * copy stored for it, as a renewal. Anything else is key_unknown.
 */
async function fromStoredCopy(services: OpenServices, ticket: PresentedTicket, context: string, now: number): Promise<Found> {
  const { keyId, lookupId } = ticket.header;
  const unknown = new KeyUnknownError(keyId, lookupId);
  if (!lookupId || !services.keyRing.wasRevoked(keyId, now) || !services.sessions.context(context).supports("server")) throw unknown;
  const copy = await services.ticketCopies.find(context, ticketName(ticket.header), ticket.bytes, now);
  if (!copy) throw unknown;
  return {
    session: copy.session,
    sessionId: lookupId,
    keyId,
    issuedAt: copy.createdAt,
    expiresAt: copy.expiresAt,
    singleUse: copy.singleUse,
    region: copy.region,
    renew: true,
    source: "store",
  };
}

/**
 * The fleet-wide single use, judged on the ticket's identity (key id and
 * nonce): on the ticket path they are authenticated, on the store path bound
 * by the copy's digest, so both paths are one use, at the same shard (the
 * region sealed in the ticket, kept by its copy). A store ticket's copy is
 * used up with it: removed once the answer is on its way (the guard already
 * refuses it; removing it only frees KV of the session).
 */
async function useOnce(services: OpenServices, ticket: PresentedTicket, found: Found, context: string, now: number, defer?: (p: Promise<unknown>) => void): Promise<void> {
  // Judged in the region the ticket was issued in (sealed in it; its copy keeps it too), wherever it is opened.
  if (!(await services.replayGuard.consume(ticketUseId(context, ticket.header), found.expiresAt, now, regionOfCode(found.region)))) {
    throw new ServiceError("ticket_replayed", "this single-use ticket was already opened");
  }
  if (ticket.header.lookupId) {
    // A failure is logged by the store; the guard's entry outlives the copy anyway.
    const removal = services.ticketCopies.remove(context, ticketName(ticket.header)).catch(() => undefined);
    defer?.(removal);
  }
}

/**
 * RFC 8446 4.6.1 (and OpenSSL up to TLS 1.2): a session resumes only under
 * the server name it was made for. DNS names compare case-insensitively; the
 * session's is stored lowercase.
 */
function checkServerName(session: Session, requested: string | undefined): void {
  if (requested === undefined || session.server_name === undefined) return;
  if (requested.toLowerCase() !== session.server_name) {
    throw new ServiceError("sni_mismatch", "the session was made for another server_name");
  }
}

/**
 * RFC 8446 4.2.11 and 8.3: when both the request's obfuscated_ticket_age and
 * the session's ticket_age_add are known, the ages must agree within the
 * window, else the ticket is refused (and 0-RTT data with it). The answer
 * reports the skew so the caller can decide about early data.
 */
function checkTicketAge(found: { issuedAt: number; session: Session }, obfuscated: number | undefined, nowMs: number, windowSeconds: number): TicketAge | undefined {
  const ageAdd = found.session.ticket_age_add;
  if (obfuscated === undefined || ageAdd === undefined) return undefined;
  const clientMs = (obfuscated - ageAdd + 2 ** 32) % 2 ** 32;
  const serverMs = nowMs - found.issuedAt * 1000;
  const age: TicketAge = { client_ms: clientMs, server_ms: serverMs, skew_ms: clientMs - serverMs, window_ms: windowSeconds * 1000 };
  if (Math.abs(age.skew_ms) > age.window_ms) {
    throw new ServiceError("ticket_age_mismatch", `the client's ticket age differs from the server's by ${age.skew_ms} ms (window ${age.window_ms} ms)`, {
      details: { ...age },
    });
  }
  return age;
}
