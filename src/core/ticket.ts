/**
 * Ticket format v1 (docs/ticket-format.md has the layout byte by byte):
 *
 *   version (1) | key id (3) | lookup id length (1) | lookup id (0..32)
 *   | nonce (12) | AES-256-GCM ciphertext of the ticket body | tag (16)
 *
 * The whole header (everything before the ciphertext) and the context name
 * are the AAD, so a ticket moved to another context or with any header bit
 * changed fails to open. Overhead without a lookup id: 33 bytes.
 *
 * Refuse cheaply: length and header are checked before any key lookup or
 * crypto work (rustls does the same).
 */
import { ByteReader, putVarint, varintSize } from "./binary.js";
import type { Bytes } from "./encoding.js";
import { KeyUnknownError, ResumptionError } from "./errors.js";
import { aesGcm, NONCE_BYTES, type GcmInput, type Scratch } from "./gcm.js";
import { MAX_KEY_ID, type TicketKeySource } from "./keys.js";
import { readSession, SESSION_LIMITS, sessionSize, writeSessionAt, type Session } from "./session.js";

export const TICKET_VERSION = 1;
/** The TLS limit on a ticket (RFC 5077, RFC 8446): nothing longer is ever opened. */
export const MAX_TICKET_BYTES = 65_535;
export const TAG_BYTES = 16;
export const MAX_LOOKUP_ID_BYTES = 32;
/** version + key id + lookup id length + nonce + tag, with no lookup id. */
export const TICKET_OVERHEAD = 1 + 3 + 1 + NONCE_BYTES + TAG_BYTES;
const FIXED_HEADER_BYTES = 1 + 3 + 1;

const BODY_SINGLE_USE = 1 << 0;
const BODY_HAS_SESSION_ID = 1 << 1;
const BODY_HAS_REGION = 1 << 2;
const BODY_KNOWN_FLAGS = BODY_SINGLE_USE | BODY_HAS_SESSION_ID | BODY_HAS_REGION;

export interface TicketHeader {
  version: number;
  keyId: number;
  /** The session id in clear, for the store fallback when the key is gone. */
  lookupId: Bytes | undefined;
  nonce: Bytes;
  /** Bytes before the ciphertext: the header, authenticated as AAD. */
  headerLength: number;
}

export interface SealInput {
  session: Session;
  /** 1 to 32 bytes. */
  sessionId: Bytes;
  /** Put the session id in clear as the lookup id (for the store fallback). */
  withLookupId: boolean;
  /** Unix seconds. */
  issuedAt: number;
  /** Seconds; at most 604800. */
  lifetime: number;
  singleUse: boolean;
  /**
   * Where the ticket was issued, as a code 1 to 255 of the opener's choosing
   * (the service's: a replay-guard region, src/replay/regions.ts), sealed in
   * the body; absent or 0: none.
   */
  region?: number;
  context: string;
  keyId: number;
  key: CryptoKey;
  /** Only for test vectors: a fixed nonce. Never pass one in production. */
  nonce?: Bytes;
}

export interface OpenedTicket {
  keyId: number;
  sessionId: Bytes;
  /** True when the session id travelled in clear as the lookup id. */
  hasLookupId: boolean;
  issuedAt: number;
  lifetime: number;
  expiresAt: number;
  singleUse: boolean;
  /** The sealed region code; 0 when the ticket has none. */
  region: number;
  session: Session;
}

export interface OpenOptions {
  context: string;
  /** Unix seconds. */
  now: number;
  keys: TicketKeySource;
}

/**
 * The checks every ticket format makes of what it is asked to seal (binary
 * here, JWE in src/tickets/jwe.ts): a ticket is never sealed corrupt.
 */
export function checkSealInput(input: Pick<SealInput, "sessionId" | "keyId" | "issuedAt" | "lifetime" | "region">): void {
  const { sessionId, keyId, lifetime, issuedAt } = input;
  if (input.region !== undefined && (!Number.isInteger(input.region) || input.region < 0 || input.region > 255)) {
    throw new ResumptionError("session_invalid", "region must be a code from 0 to 255", "region");
  }
  if (sessionId.length < 1 || sessionId.length > MAX_LOOKUP_ID_BYTES) {
    throw new ResumptionError("session_invalid", "session id must be 1 to 32 bytes", "session_id");
  }
  if (!Number.isInteger(keyId) || keyId < 0 || keyId > MAX_KEY_ID) {
    throw new ResumptionError("key_invalid", "key id out of range");
  }
  // issued_at is written as a varint: anything but a safe non-negative integer would be sealed corrupt.
  if (!Number.isSafeInteger(issuedAt) || issuedAt < 0) {
    throw new ResumptionError("session_invalid", "issued_at must be a non-negative integer", "issued_at");
  }
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > SESSION_LIMITS.maxTimeout) {
    throw new ResumptionError("session_invalid", `lifetime must be 1 to ${SESSION_LIMITS.maxTimeout} seconds`, "lifetime");
  }
}

/**
 * Seals a session into a ticket. The ticket is a view into a pool shared
 * with other tickets (see ticketBytes): its bytes are its own, its `buffer`
 * is not.
 */
export async function sealTicket(input: SealInput): Promise<Bytes> {
  checkSealInput(input);
  if (input.nonce && input.nonce.length !== NONCE_BYTES) throw new ResumptionError("key_invalid", "nonce must be 12 bytes");
  const { sessionId, withLookupId, keyId, lifetime, issuedAt } = input;
  const lookupLength = withLookupId ? sessionId.length : 0;
  const headerLength = FIXED_HEADER_BYTES + lookupLength + NONCE_BYTES;

  // The body's exact length first, then one pass of plain writes.
  const sessionLength = sessionSize(input.session);
  const region = input.region ?? 0;
  const bodyLength = 1 + varintSize(issuedAt) + varintSize(lifetime) + (region ? 1 : 0) + (withLookupId ? 0 : 1 + sessionId.length) + sessionLength;
  const total = headerLength + bodyLength + TAG_BYTES;
  if (total > MAX_TICKET_BYTES) {
    throw new ResumptionError("session_invalid", `the session is too large for a ticket (${total} > ${MAX_TICKET_BYTES} bytes)`, "session");
  }
  const ticket = ticketBytes(total);
  ticket[0] = TICKET_VERSION;
  ticket[1] = keyId >>> 16;
  ticket[2] = (keyId >>> 8) & 255;
  ticket[3] = keyId & 255;
  ticket[4] = lookupLength;
  if (withLookupId) ticket.set(sessionId, FIXED_HEADER_BYTES);

  const ciphertext = await aesGcm("encrypt", input.key, sealedBody, ticket, input, bodyLength);
  ticket.set(new Uint8Array(ciphertext), headerLength);
  return ticket;
}

/**
 * The plaintext body of a ticket whose header is written up to the nonce,
 * the nonce (drawn here unless the input fixes one) and the AAD: what
 * sealTicket encrypts.
 */
function sealedBody(scratch: Scratch, ticket: Bytes, input: SealInput, bodyLength: number): GcmInput {
  const { sessionId, withLookupId } = input;
  const region = input.region ?? 0;
  const lookupLength = ticket[4]!;
  const body = scratch.body(bodyLength);
  body[0] = (input.singleUse ? BODY_SINGLE_USE : 0) | (withLookupId ? 0 : BODY_HAS_SESSION_ID) | (region ? BODY_HAS_REGION : 0);
  let p = putVarint(body, 1, input.issuedAt);
  p = putVarint(body, p, input.lifetime);
  if (region) body[p++] = region;
  if (!withLookupId) {
    body[p++] = sessionId.length;
    for (let i = 0; i < sessionId.length; i++) body[p++] = sessionId[i]!;
  }
  writeSessionAt(body, p, input.session);
  const nonce = input.nonce ?? scratch.randomNonce();
  const nonceAt = FIXED_HEADER_BYTES + lookupLength;
  for (let i = 0; i < NONCE_BYTES; i++) ticket[nonceAt + i] = nonce[i]!;
  return { iv: nonce, additionalData: scratch.aad(ticket, nonceAt + NONCE_BYTES, input.context), data: body.subarray(0, bodyLength) };
}

/** What openTicket decrypts: the ticket after its header, under the header's nonce and AAD. */
function openedBody(scratch: Scratch, ticket: Bytes, header: TicketHeader, context: string): GcmInput {
  return { iv: header.nonce, additionalData: scratch.aad(ticket, header.headerLength, context), data: ticket.subarray(header.headerLength) };
}

/**
 * Tickets are carved out of a shared pool, as Node's Buffer does for small
 * buffers: in workerd a typed array over 64 bytes gets its own off-heap
 * ArrayBuffer, which costs about 0.3 µs (as much as everything else sealTicket
 * does besides AES-GCM), against a few ns for a view. Every ticket is a
 * distinct, never-reused range, written in full; its `buffer` is the pool's
 * (callers that need a buffer of its own copy it with slice()).
 */
const TICKET_POOL_BYTES = 8192;
const POOLED_TICKET_MAX = 1024;
let ticketPool = new Uint8Array(TICKET_POOL_BYTES);
let ticketPoolUsed = 0;

function ticketBytes(n: number): Bytes {
  if (n > POOLED_TICKET_MAX) return new Uint8Array(n);
  if (ticketPoolUsed + n > TICKET_POOL_BYTES) {
    ticketPool = new Uint8Array(TICKET_POOL_BYTES);
    ticketPoolUsed = 0;
  }
  const ticket = ticketPool.subarray(ticketPoolUsed, ticketPoolUsed + n);
  ticketPoolUsed += n;
  return ticket;
}

/** Parses the clear-text header. Costs no crypto; throws ticket_malformed or ticket_unsupported_version. */
export function parseTicketHeader(ticket: Bytes): TicketHeader {
  // The common case, every check at once; anything else takes the reader below for its precise error.
  const n = ticket.length;
  if (n <= MAX_TICKET_BYTES && n > FIXED_HEADER_BYTES && ticket[0] === TICKET_VERSION) {
    const lookupLength = ticket[4]!;
    const headerLength = FIXED_HEADER_BYTES + lookupLength + NONCE_BYTES;
    if (lookupLength <= MAX_LOOKUP_ID_BYTES && n - headerLength >= TAG_BYTES + 8) {
      return {
        version: TICKET_VERSION,
        keyId: (ticket[1]! << 16) | (ticket[2]! << 8) | ticket[3]!,
        lookupId: lookupLength > 0 ? ticket.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + lookupLength) : undefined,
        nonce: ticket.subarray(FIXED_HEADER_BYTES + lookupLength, headerLength),
        headerLength,
      };
    }
  }
  if (ticket.length > MAX_TICKET_BYTES) {
    throw new ResumptionError("ticket_malformed", `ticket longer than ${MAX_TICKET_BYTES} bytes`);
  }
  if (ticket.length === 0) throw new ResumptionError("ticket_malformed", "empty ticket");
  const version = ticket[0]!;
  if (version !== TICKET_VERSION) {
    throw new ResumptionError("ticket_unsupported_version", `ticket version ${version} is not supported`);
  }
  const r = new ByteReader(ticket, "ticket_malformed");
  r.u8("version");
  const keyId = r.u24("key id");
  const lookupLength = r.u8("lookup id length");
  if (lookupLength > MAX_LOOKUP_ID_BYTES) r.fail("lookup id longer than 32 bytes");
  // Views into the ticket, not copies: the header is read on every open.
  const lookupId = lookupLength > 0 ? r.view(lookupLength, "lookup id") : undefined;
  const nonce = r.view(NONCE_BYTES, "nonce");
  const headerLength = r.offset;
  // The smallest body is flags, two varints and a minimal session: 8 bytes.
  if (r.remaining < TAG_BYTES + 8) r.fail("ticket too short");
  return { version, keyId, lookupId, nonce, headerLength };
}

/** Opens a ticket; pass `header` when the caller has already parsed it. */
export async function openTicket(ticket: Bytes, options: OpenOptions, header = parseTicketHeader(ticket)): Promise<OpenedTicket> {
  const key = options.keys.subkey(header.keyId, options.context);
  if (key === undefined) throw new KeyUnknownError(header.keyId, header.lookupId);

  // One await on the hot path: the decryption itself (a cached subkey is a
  // CryptoKey, not a promise, and awaiting it would cost a turn). A ticket
  // that does not authenticate costs this one decryption and no other: a
  // binary ticket names no context in clear, and trying other contexts'
  // keys to tell "another context" from "tampered" would let any client
  // buy one decryption per context with one request.
  let plaintext: Bytes;
  try {
    const subkey = isPromise(key) ? await key : key;
    const decrypted = await aesGcm("decrypt", subkey, openedBody, ticket, header, options.context);
    plaintext = new Uint8Array(decrypted);
  } catch {
    throw new ResumptionError("ticket_invalid", "the ticket failed authentication");
  }

  return readBody(plaintext, header, options.now);
}

/**
 * The decrypted body: flags, times, session id, session; the checks and
 * errors are the format's, in the order of the fields. The plaintext is a
 * fresh buffer of our own, so the session id and the session's byte fields
 * are views into it, not copies.
 */
function readBody(plaintext: Bytes, header: TicketHeader, now: number): OpenedTicket {
  const r = new ByteReader(plaintext, "ticket_malformed");
  const flags = r.u8("ticket flags");
  if ((flags & ~BODY_KNOWN_FLAGS) !== 0) r.fail("unknown ticket flags");
  const issuedAt = r.varint("issued_at");
  const lifetime = r.varint("lifetime");
  // What a sealer may write (checkSealInput), and no ticket from the future:
  // only a holder of the subkey could make such a ticket, and it must not
  // buy a replay-guard entry that lives for ever.
  if (lifetime < 1 || lifetime > SESSION_LIMITS.maxTimeout) r.fail(`lifetime out of range (1 to ${SESSION_LIMITS.maxTimeout})`);
  if (issuedAt > now + MAX_ISSUE_SKEW) r.fail("issued_at is in the future");
  let region = 0;
  if (flags & BODY_HAS_REGION) {
    region = r.u8("region");
    if (region === 0) r.fail("region 0 with the region flag set");
  }
  let sessionId: Bytes;
  if (flags & BODY_HAS_SESSION_ID) {
    if (header.lookupId) r.fail("session id both in clear and sealed");
    const n = r.u8("session id length");
    if (n < 1 || n > MAX_LOOKUP_ID_BYTES) r.fail("session id length out of range");
    sessionId = r.view(n, "session id");
  } else {
    sessionId = header.lookupId ?? r.fail("ticket has no session id");
  }
  const expiresAt = issuedAt + lifetime;
  if (now >= expiresAt) {
    throw new ResumptionError("ticket_expired", "the ticket has expired");
  }
  let session: Session;
  try {
    session = readSession(r, false);
  } catch (e) {
    // The session codec's session_invalid is about a request's session; inside a ticket it is the ticket that is malformed.
    if (e instanceof ResumptionError && e.code === "session_invalid") throw malformed(`the sealed session is invalid: ${e.message}`);
    throw e;
  }
  if (r.remaining !== 0) r.fail(`${r.remaining} unexpected bytes after the sealed session`);
  return {
    keyId: header.keyId,
    sessionId,
    hasLookupId: header.lookupId !== undefined,
    issuedAt,
    lifetime,
    expiresAt,
    singleUse: (flags & BODY_SINGLE_USE) !== 0,
    region,
    session,
  };
}

const malformed = (message: string) => new ResumptionError("ticket_malformed", message);

/** Seconds a ticket's issued_at may run ahead of the opener's clock (clocks in a fleet agree far better). */
export const MAX_ISSUE_SKEW = 300;

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
