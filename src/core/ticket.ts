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
import { ByteReader, putVarint, readVarint, scratchBytes, varintEnd, varintSize } from "./binary.js";
import { utf8, type Bytes } from "./encoding.js";
import { KeyUnknownError, ResumptionError } from "./errors.js";
import { MAX_KEY_ID, type TicketKeySource } from "./keys.js";
import { readSessionAt, SESSION_LIMITS, sessionEnd, sessionSize, writeSessionAt, type Session } from "./session.js";

export const TICKET_VERSION = 1;
/** The TLS limit on a ticket (RFC 5077, RFC 8446): nothing longer is ever opened. */
export const MAX_TICKET_BYTES = 65_535;
export const NONCE_BYTES = 12;
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

interface ContextAad {
  /** UTF-8 of the context name. */
  bytes: Bytes;
  /** By lookup id length: a buffer of the AAD's length with the context already at its end. */
  aad: (Bytes | undefined)[];
}

const contextCache = new Map<string, ContextAad>();
function contextAad(context: string): ContextAad {
  let c = contextCache.get(context);
  if (!c) {
    c = { bytes: utf8.encode(context), aad: [] };
    if (contextCache.size < 1024) contextCache.set(context, c);
  }
  return c;
}

/**
 * AAD = ticket[0 .. headerLength] || UTF-8(context). The buffer is reused per
 * (context, header length): WebCrypto copies its inputs before encrypt() or
 * decrypt() returns, so it is filled and handed over synchronously, never
 * held across an await.
 */
function aad(ticket: Bytes, headerLength: number, context: string): Bytes {
  const c = contextAad(context);
  let out = c.aad[headerLength];
  if (out === undefined) {
    out = new Uint8Array(headerLength + c.bytes.length);
    out.set(c.bytes, headerLength);
    c.aad[headerLength] = out;
  }
  for (let i = 0; i < headerLength; i++) out[i] = ticket[i]!;
  return out;
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
  if (sessionLength < 0) throw new ResumptionError("session_invalid", "server_name and alpn must be printable ASCII", "session");
  const region = input.region ?? 0;
  const bodyLength = 1 + varintSize(issuedAt) + varintSize(lifetime) + (region ? 1 : 0) + (withLookupId ? 0 : 1 + sessionId.length) + sessionLength;
  const total = headerLength + bodyLength + TAG_BYTES;
  if (total > MAX_TICKET_BYTES) {
    throw new ResumptionError("session_invalid", `the session is too large for a ticket (${total} > ${MAX_TICKET_BYTES} bytes)`, "session");
  }
  // The shared scratch buffer: encrypt() copies the plaintext before it returns.
  const body = scratchBytes(bodyLength);
  body[0] = (input.singleUse ? BODY_SINGLE_USE : 0) | (withLookupId ? 0 : BODY_HAS_SESSION_ID) | (region ? BODY_HAS_REGION : 0);
  let p = putVarint(body, 1, issuedAt);
  p = putVarint(body, p, lifetime);
  if (region) body[p++] = region;
  if (!withLookupId) {
    body[p++] = sessionId.length;
    for (let i = 0; i < sessionId.length; i++) body[p++] = sessionId[i]!;
  }
  writeSessionAt(body, p, input.session);

  const ticket = ticketBytes(total);
  ticket[0] = TICKET_VERSION;
  ticket[1] = keyId >>> 16;
  ticket[2] = (keyId >>> 8) & 255;
  ticket[3] = keyId & 255;
  ticket[4] = lookupLength;
  if (withLookupId) ticket.set(sessionId, FIXED_HEADER_BYTES);
  // The nonce is drawn into a reused buffer (handed to encrypt() synchronously) and copied into the ticket.
  const nonce = input.nonce ?? crypto.getRandomValues(nonceScratch);
  for (let i = 0, o = FIXED_HEADER_BYTES + lookupLength; i < NONCE_BYTES; i++) ticket[o + i] = nonce[i]!;

  // tagLength is left at its default, 128 bits: naming it costs workerd one
  // more dictionary member to convert on every call.
  const ciphertext = await subtle().encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: aad(ticket, headerLength, input.context) },
    input.key,
    body.subarray(0, bodyLength),
  );
  ticket.set(new Uint8Array(ciphertext), headerLength);
  return ticket;
}

const nonceScratch = new Uint8Array(NONCE_BYTES);

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

/**
 * crypto.subtle, looked up once: in workerd each `crypto.subtle` is two
 * native accessor calls, measurable next to a 2 µs AES-GCM call.
 */
let cachedSubtle: SubtleCrypto | undefined;
const subtle = (): SubtleCrypto => (cachedSubtle ??= crypto.subtle);

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
    plaintext = new Uint8Array(await decrypt(ticket, header, options.context, isPromise(key) ? await key : key));
  } catch {
    throw new ResumptionError("ticket_invalid", "the ticket failed authentication");
  }

  return readBody(plaintext, header, options.now);
}

/**
 * The decrypted body: flags, times, session id, session. Reads the buffer
 * directly (no reader objects); the checks and errors are the format's, in
 * the order of the fields. The plaintext is a fresh buffer of our own, so the
 * session id and the session's byte fields are views into it, not copies.
 */
function readBody(plaintext: Bytes, header: TicketHeader, now: number): OpenedTicket {
  const end = plaintext.length;
  if (end < 1) throw malformed("truncated ticket flags");
  const flags = plaintext[0]!;
  if ((flags & ~BODY_KNOWN_FLAGS) !== 0) throw malformed("unknown ticket flags");
  const issuedAt = readVarint(plaintext, 1, end, "issued_at", "ticket_malformed");
  const lifetime = readVarint(plaintext, varintEnd, end, "lifetime", "ticket_malformed");
  let p = varintEnd;
  // What a sealer may write (checkSealInput), and no ticket from the future:
  // only a holder of the subkey could make such a ticket, and it must not
  // buy a replay-guard entry that lives for ever.
  if (lifetime < 1 || lifetime > SESSION_LIMITS.maxTimeout) throw malformed(`lifetime out of range (1 to ${SESSION_LIMITS.maxTimeout})`);
  if (issuedAt > now + MAX_ISSUE_SKEW) throw malformed("issued_at is in the future");
  let region = 0;
  if (flags & BODY_HAS_REGION) {
    if (p >= end) throw malformed("truncated region");
    region = plaintext[p++]!;
    if (region === 0) throw malformed("region 0 with the region flag set");
  }
  let sessionId: Bytes;
  if (flags & BODY_HAS_SESSION_ID) {
    if (header.lookupId) throw malformed("session id both in clear and sealed");
    if (p >= end) throw malformed("truncated session id length");
    const n = plaintext[p++]!;
    if (n < 1 || n > MAX_LOOKUP_ID_BYTES) throw malformed("session id length out of range");
    if (n > end - p) throw malformed("truncated session id");
    sessionId = plaintext.subarray(p, p + n);
    p += n;
  } else {
    if (header.lookupId === undefined) throw malformed("ticket has no session id");
    sessionId = header.lookupId;
  }
  const expiresAt = issuedAt + lifetime;
  if (now >= expiresAt) {
    throw new ResumptionError("ticket_expired", "the ticket has expired");
  }
  let session: Session;
  try {
    session = readSessionAt(plaintext, p, end, false);
  } catch (e) {
    // The session codec's session_invalid is about a request's session; inside a ticket it is the ticket that is malformed.
    if (e instanceof ResumptionError && e.code === "session_invalid") throw malformed(`the sealed session is invalid: ${e.message}`);
    throw e;
  }
  if (sessionEnd() !== end) throw malformed(`${end - sessionEnd()} unexpected bytes after the sealed session`);
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

/** Rejects when the ticket does not authenticate under (key, context). */
function decrypt(ticket: Bytes, header: TicketHeader, context: string, key: CryptoKey): Promise<ArrayBuffer> {
  return subtle().decrypt(
    { name: "AES-GCM", iv: header.nonce, additionalData: aad(ticket, header.headerLength, context) },
    key,
    ticket.subarray(header.headerLength),
  );
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
