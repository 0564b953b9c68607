/**
 * The at-rest record of a stored session (the value in KV):
 *
 *   version (1) | kind (1) | flags (1) | created_at | expires_at | timeout
 *   | nonce (12) | AES-256-GCM( digest (32) | session ) | tag (16)
 *
 * created_at, expires_at and timeout are varints (unix seconds, seconds) in
 * clear, so an expired record is refused before any crypto; the whole header
 * is authenticated with the context and the record's name (session id or
 * peer) as AAD, so a value copied to another id, peer, kind or context fails
 * to decrypt. The key is derived per context (HKDF_LABEL.sessionStore).
 *
 * The digest is SHA-256 of the session without its times ("the same
 * session" for PUT's idempotency check), or for a ticket's copy SHA-256 of
 * the ticket (StoredRecord.digest). It is encrypted with the session, since
 * the first is a function of the master secret.
 */
import { decodeSession, encodeSession, ResumptionError, utf8, type Bytes, type Session } from "../core/index.js";
import { ByteReader, ByteWriter } from "../core/internal.js";

export const RECORD_VERSION = 1;
const NONCE_BYTES = 12;
const DIGEST_BYTES = 32;

/** A server session (by session id) or a client session (by origin peer). */
export type SessionKind = "server" | "client";
/**
 * What a record holds: a session of either kind, or a store: true ticket's
 * copy (by the ticket's key id and nonce: only the store fallback of that
 * very ticket reads it; src/store/ticket-copies.ts).
 */
export type RecordKind = SessionKind | "ticket";
const KIND_CODE: Record<RecordKind, number> = { server: 1, client: 2, ticket: 3 };

const FLAG_SINGLE_USE = 1 << 0;
/** A region byte follows the flags: where the record was written, which replay-guard region guards its one use. */
const FLAG_REGION = 1 << 1;

export interface RecordTimes {
  /** Unix seconds. */
  createdAt: number;
  /** Unix seconds; the session is expired from this second on. */
  expiresAt: number;
  /** Seconds a use extends the session by, under update_time. */
  timeout: number;
  /** Stored for a single-use ticket: the ticket fallback consumes it once. */
  singleUse?: boolean;
  /** The replay-guard region of where it was written (src/replay/regions.ts), 0 for none: its take, or its ticket's one use, is judged there. */
  region?: number;
}

export interface StoredRecord extends Required<RecordTimes> {
  session: Session;
  /**
   * 32 bytes sealed with the session. For a session: SHA-256 of its content
   * without its times (contentDigest: PUT's "the same session" check, take's
   * identity). For a ticket's copy: SHA-256 of the exact ticket it was stored
   * for (ticketDigest: the store fallback answers that ticket and no other).
   */
  digest: Bytes;
}

export interface RecordHeader {
  kind: RecordKind;
  createdAt: number;
  expiresAt: number;
  timeout: number;
  singleUse: boolean;
  region: number;
  nonce: Bytes;
  /** Bytes before the ciphertext. */
  length: number;
}

/** A session's record, its content digest computed. */
export async function sessionRecord(session: Session, times: RecordTimes): Promise<StoredRecord> {
  return { session, digest: await contentDigest(session), ...times, singleUse: times.singleUse === true, region: times.region ?? 0 };
}

/** SHA-256 of the session's content, its times left out. */
export async function contentDigest(session: Session): Promise<Bytes> {
  const timeless = encodeSession({ ...session, created_at: 0, timeout: 1 });
  return new Uint8Array(await crypto.subtle.digest("SHA-256", timeless));
}

/**
 * What a take must never hand out twice: SHA-256 of the session's master
 * secret (its resumption secret in TLS 1.3), else, for a session that holds
 * none (opaque only), the record's content digest. A session stored again
 * with the same secret but other fields is the same secret.
 */
export async function secretDigest(record: StoredRecord): Promise<Bytes> {
  const secret = record.session.master_secret;
  return secret ? new Uint8Array(await crypto.subtle.digest("SHA-256", secret)) : record.digest;
}

function aad(header: Bytes, context: string, name: string): Bytes {
  const tail = utf8.encode(`\0${context}\0${name}`);
  const out = new Uint8Array(header.length + tail.length);
  out.set(header);
  out.set(tail, header.length);
  return out;
}

export async function sealRecord(key: CryptoKey, kind: RecordKind, context: string, name: string, record: StoredRecord): Promise<Bytes> {
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const w = new ByteWriter(32)
    .u8(RECORD_VERSION)
    .u8(KIND_CODE[kind])
    .u8((record.singleUse ? FLAG_SINGLE_USE : 0) | (record.region ? FLAG_REGION : 0));
  if (record.region) w.u8(record.region);
  const header = w
    .varint(record.createdAt)
    .varint(record.expiresAt)
    .varint(record.timeout)
    .bytes(nonce)
    .finish();
  const session = encodeSession(record.session);
  const plaintext = new Uint8Array(DIGEST_BYTES + session.length);
  plaintext.set(record.digest);
  plaintext.set(session, DIGEST_BYTES);
  const ciphertext = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: aad(header, context, name) }, key, plaintext),
  );
  plaintext.fill(0);
  const out = new Uint8Array(header.length + ciphertext.length);
  out.set(header);
  out.set(ciphertext, header.length);
  return out;
}

/** The clear header, without crypto; undefined for anything that is not a v1 record. */
export function readRecordHeader(bytes: Bytes): RecordHeader | undefined {
  try {
    const r = new ByteReader(bytes, "session_invalid");
    if (r.u8("version") !== RECORD_VERSION) return undefined;
    const code = r.u8("kind");
    const kind = (Object.keys(KIND_CODE) as RecordKind[]).find((k) => KIND_CODE[k] === code);
    const flags = r.u8("flags");
    if (!kind || (flags & ~(FLAG_SINGLE_USE | FLAG_REGION)) !== 0) return undefined;
    const region = flags & FLAG_REGION ? r.u8("region") : 0;
    if (flags & FLAG_REGION && region === 0) return undefined;
    const createdAt = r.varint("created_at");
    const expiresAt = r.varint("expires_at");
    const timeout = r.varint("timeout");
    const nonce = r.bytes(NONCE_BYTES, "nonce");
    return { kind, createdAt, expiresAt, timeout, singleUse: (flags & FLAG_SINGLE_USE) !== 0, region, nonce, length: r.offset };
  } catch (e) {
    if (e instanceof ResumptionError) return undefined;
    throw e;
  }
}

/**
 * Decrypts and decodes a record read under (kind, context, name). Undefined
 * when it does not authenticate there (another id, peer or context, another
 * MASTER_KEY, tampering) or does not decode: a corrupt record is a missing
 * one, never an error the caller sees.
 */
export async function openRecord(
  key: CryptoKey,
  kind: RecordKind,
  context: string,
  name: string,
  bytes: Bytes,
  header: RecordHeader,
): Promise<StoredRecord | undefined> {
  if (header.kind !== kind) return undefined;
  let plaintext: Bytes;
  try {
    plaintext = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: header.nonce, additionalData: aad(bytes.subarray(0, header.length), context, name) },
        key,
        bytes.subarray(header.length),
      ),
    );
  } catch {
    return undefined;
  }
  if (plaintext.length <= DIGEST_BYTES) return undefined;
  try {
    const session = decodeSession(plaintext.subarray(DIGEST_BYTES));
    return {
      session,
      digest: plaintext.slice(0, DIGEST_BYTES),
      createdAt: header.createdAt,
      expiresAt: header.expiresAt,
      timeout: header.timeout,
      singleUse: header.singleUse,
      region: header.region,
    };
  } catch (e) {
    if (e instanceof ResumptionError) return undefined;
    throw e;
  } finally {
    plaintext.fill(0);
  }
}

/**
 * The record, its session, the LRU's entry and map slot: calibrated with the
 * benchmark's heap snapshots (docs/benchmarks.md, part 4), together with
 * TYPED_ARRAY_BYTES.
 */
const RECORD_BYTES = 170;
/** What V8 spends on each Uint8Array besides its bytes: the view and its own ArrayBuffer object. */
const TYPED_ARRAY_BYTES = 120;

/**
 * Bytes a record takes in the isolate's heap, for the internal cache's byte
 * bound. An earlier count left out the typed arrays' own objects and said
 * 412 bytes for a TLS 1.2 session that took 663-696 (measured), so
 * cache_bytes bounded about 60% of what the cache really held.
 */
export function recordSize(record: StoredRecord, name: string): number {
  const s = record.session;
  let n = RECORD_BYTES + 2 * name.length + DIGEST_BYTES + TYPED_ARRAY_BYTES;
  if (s.master_secret) n += s.master_secret.length + TYPED_ARRAY_BYTES;
  if (s.opaque) n += s.opaque.length + TYPED_ARRAY_BYTES;
  for (const cert of s.peer_certificate_chain ?? []) n += cert.length + TYPED_ARRAY_BYTES;
  n += 2 * ((s.server_name?.length ?? 0) + (s.alpn?.length ?? 0));
  return n;
}
