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
import { ByteReader, ByteWriter } from "./binary.js";
import { utf8, type Bytes } from "./encoding.js";
import { KeyUnknownError, ResumptionError } from "./errors.js";
import { MAX_KEY_ID, type TicketKeySource } from "./keys.js";
import { readSession, SESSION_LIMITS, writeSession, type Session } from "./session.js";

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
const BODY_KNOWN_FLAGS = BODY_SINGLE_USE | BODY_HAS_SESSION_ID;

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
  session: Session;
}

export interface OpenOptions {
  context: string;
  /** Unix seconds. */
  now: number;
  keys: TicketKeySource;
  /**
   * Other contexts to try when authentication fails, to tell context_mismatch
   * from ticket_invalid. Costs one decryption each, on the failure path only.
   */
  otherContexts?: readonly string[];
}

const contextBytesCache = new Map<string, Bytes>();
function contextBytes(context: string): Bytes {
  let b = contextBytesCache.get(context);
  if (!b) {
    b = utf8.encode(context);
    if (contextBytesCache.size < 1024) contextBytesCache.set(context, b);
  }
  return b;
}

function aad(ticket: Bytes, headerLength: number, context: string): Bytes {
  const c = contextBytes(context);
  const out = new Uint8Array(headerLength + c.length);
  out.set(ticket.subarray(0, headerLength));
  out.set(c, headerLength);
  return out;
}

export async function sealTicket(input: SealInput): Promise<Bytes> {
  const { sessionId, withLookupId, keyId, lifetime, issuedAt } = input;
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
  if (input.nonce && input.nonce.length !== NONCE_BYTES) throw new ResumptionError("key_invalid", "nonce must be 12 bytes");

  const lookupLength = withLookupId ? sessionId.length : 0;
  const headerLength = FIXED_HEADER_BYTES + lookupLength + NONCE_BYTES;

  // The shared scratch buffer: encrypt() copies the plaintext before it returns.
  const body = ByteWriter.scratch();
  body.u8((input.singleUse ? BODY_SINGLE_USE : 0) | (withLookupId ? 0 : BODY_HAS_SESSION_ID));
  body.varint(issuedAt).varint(lifetime);
  if (!withLookupId) body.u8(sessionId.length).bytes(sessionId);
  writeSession(body, input.session);
  const plaintext = body.finish();

  const total = headerLength + plaintext.length + TAG_BYTES;
  if (total > MAX_TICKET_BYTES) {
    throw new ResumptionError("session_invalid", `the session is too large for a ticket (${total} > ${MAX_TICKET_BYTES} bytes)`, "session");
  }
  const ticket = new Uint8Array(total);
  ticket[0] = TICKET_VERSION;
  ticket[1] = keyId >>> 16;
  ticket[2] = (keyId >>> 8) & 255;
  ticket[3] = keyId & 255;
  ticket[4] = lookupLength;
  if (withLookupId) ticket.set(sessionId, FIXED_HEADER_BYTES);
  // The nonce is drawn straight into its place in the ticket.
  const nonce = ticket.subarray(FIXED_HEADER_BYTES + lookupLength, headerLength);
  if (input.nonce) nonce.set(input.nonce);
  else crypto.getRandomValues(nonce);

  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: aad(ticket, headerLength, input.context), tagLength: 128 },
    input.key,
    plaintext,
  );
  ticket.set(new Uint8Array(ciphertext), headerLength);
  return ticket;
}

/** Parses the clear-text header. Costs no crypto; throws ticket_malformed or ticket_unsupported_version. */
export function parseTicketHeader(ticket: Bytes): TicketHeader {
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
  // CryptoKey, not a promise, and awaiting it would cost a turn).
  let plaintext: Bytes;
  try {
    plaintext = new Uint8Array(await decrypt(ticket, header, options.context, isPromise(key) ? await key : key));
  } catch {
    for (const other of options.otherContexts ?? []) {
      if (other === options.context) continue;
      const otherKey = options.keys.subkey(header.keyId, other);
      if (otherKey && (await decrypt(ticket, header, other, await otherKey).then(() => true, () => false))) {
        throw new ResumptionError("context_mismatch", "the ticket was issued for another context");
      }
    }
    throw new ResumptionError("ticket_invalid", "the ticket failed authentication");
  }

  const body = new ByteReader(plaintext, "ticket_malformed");
  const flags = body.u8("ticket flags");
  if ((flags & ~BODY_KNOWN_FLAGS) !== 0) body.fail("unknown ticket flags");
  const issuedAt = body.varint("issued_at");
  const lifetime = body.varint("lifetime");
  let sessionId: Bytes;
  if (flags & BODY_HAS_SESSION_ID) {
    if (header.lookupId) body.fail("session id both in clear and sealed");
    const n = body.u8("session id length");
    if (n < 1 || n > MAX_LOOKUP_ID_BYTES) body.fail("session id length out of range");
    sessionId = body.bytes(n, "session id");
  } else {
    sessionId = header.lookupId ?? body.fail("ticket has no session id");
  }
  const expiresAt = issuedAt + lifetime;
  if (options.now >= expiresAt) {
    throw new ResumptionError("ticket_expired", "the ticket has expired");
  }
  const sessionReader = new ByteReader(plaintext, "session_invalid", body.offset);
  const session = readSession(sessionReader);
  sessionReader.expectEnd("session");
  return {
    keyId: header.keyId,
    sessionId,
    hasLookupId: header.lookupId !== undefined,
    issuedAt,
    lifetime,
    expiresAt,
    singleUse: (flags & BODY_SINGLE_USE) !== 0,
    session,
  };
}

/** Rejects when the ticket does not authenticate under (key, context). */
function decrypt(ticket: Bytes, header: TicketHeader, context: string, key: CryptoKey): Promise<ArrayBuffer> {
  return crypto.subtle.decrypt(
    { name: "AES-GCM", iv: header.nonce, additionalData: aad(ticket, header.headerLength, context), tagLength: 128 },
    key,
    ticket.subarray(header.headerLength),
  );
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
