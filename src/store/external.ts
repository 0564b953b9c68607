/**
 * The external session cache (OpenSSL's new/get/remove callbacks): records
 * encrypted at rest under a storage key derived per context from MASTER_KEY
 * (HKDF_LABEL.sessionStore, the context in the info), in a SessionStorage
 * (KV in production). Any failure of the storage is a 503 store_unavailable
 * with Retry-After; a record that does not authenticate is a missing one.
 */
import { deriveAesGcmKey, encodeHex, HKDF_LABEL, importHkdfKey, utf8, type Bytes } from "../core/index.js";
import { ServiceError } from "../errors.js";
import { openRecord, readRecordHeader, sealRecord, type RecordKind, type StoredRecord } from "./records.js";
import type { SessionStorage } from "./storage.js";

/** Seconds a caller should wait after store_unavailable. */
export const STORE_RETRY_AFTER = 5;

export type ExternalRead = { status: "found"; record: StoredRecord } | { status: "expired" } | { status: "absent" };

/** A structured log line; never carries session data or key material. */
export type StoreLog = (event: Record<string, string | number>) => void;

export const consoleLog: StoreLog = (event) => {
  const line = JSON.stringify(event);
  if (event.level === "error") console.error(line);
  else console.warn(line);
};

/**
 * The storage key of a record: kind, context and name. Session ids are in
 * clear (they travel in clear in every ClientHello), and so are a ticket's
 * key id and nonce (its clear header); a peer is hashed, which keeps every
 * key under KV's 512 bytes whatever the host and SNI lengths.
 */
export async function storageKey(kind: RecordKind, context: string, name: string): Promise<string> {
  if (kind === "server") return `s:${context}:${name}`;
  if (kind === "ticket") return `t:${context}:${name}`;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", utf8.encode(name)));
  return `c:${context}:${encodeHex(digest)}`;
}

/** KV refuses a second write to one key within a second with HTTP 429 ("KV PUT failed: 429 Too Many Requests"). */
export function isWriteRateLimited(message: string): boolean {
  return /\b429\b|too many requests/i.test(message);
}

export class ExternalCache {
  private base: Promise<CryptoKey> | undefined;
  private readonly keys = new Map<string, Promise<CryptoKey>>();

  constructor(
    private readonly storage: SessionStorage,
    private readonly masterKey: Bytes,
    private readonly log: StoreLog = consoleLog,
  ) {}

  /** The context's storage key, derived once per isolate. */
  private keyFor(context: string): Promise<CryptoKey> {
    let key = this.keys.get(context);
    if (!key) {
      this.base ??= importHkdfKey(this.masterKey);
      key = this.base.then((base) => deriveAesGcmKey(base, HKDF_LABEL.sessionStore, context));
      this.keys.set(context, key);
    }
    return key;
  }

  private unavailable(op: string, e: unknown): ServiceError {
    // The storage's own message (a KV error), never request data.
    const error = e instanceof Error ? e.message : String(e);
    if (op !== "get" && isWriteRateLimited(error)) {
      // Not a fault: another isolate wrote the key this second. Callers decide (src/store/session-store.ts).
      this.log({ level: "warn", event: "session_store_rate_limited", op });
      return new ServiceError("write_rate_limited", "this key was written less than a second ago; KV takes one write per second per key", {
        headers: { "retry-after": "1" },
      });
    }
    this.log({ level: "error", event: "session_store_failed", op, error });
    return new ServiceError("store_unavailable", "the session store cannot be reached; nothing was written", {
      headers: { "retry-after": String(STORE_RETRY_AFTER) },
    });
  }

  async read(kind: RecordKind, context: string, name: string, now: number): Promise<ExternalRead> {
    const key = await storageKey(kind, context, name);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.storage.get(key);
    } catch (e) {
      throw this.unavailable("get", e);
    }
    if (!bytes) return { status: "absent" };
    const value = new Uint8Array(bytes);
    const header = readRecordHeader(value);
    // Refuse cheaply: KV keeps a record for at least 60 s, whatever its own expiry.
    if (header && now >= header.expiresAt) return { status: "expired" };
    const record = header && (await openRecord(await this.keyFor(context), kind, context, name, value, header));
    if (!record) {
      this.log({ level: "warn", event: "session_record_rejected", kind, context });
      return { status: "absent" };
    }
    return { status: "found", record };
  }

  async write(kind: RecordKind, context: string, name: string, record: StoredRecord, now: number): Promise<void> {
    const [key, sealed] = await Promise.all([
      storageKey(kind, context, name),
      this.keyFor(context).then((k) => sealRecord(k, kind, context, name, record)),
    ]);
    try {
      await this.storage.put(key, sealed, record.expiresAt - now);
    } catch (e) {
      throw this.unavailable("put", e);
    }
  }

  async remove(kind: RecordKind, context: string, name: string): Promise<void> {
    const key = await storageKey(kind, context, name);
    try {
      await this.storage.delete(key);
    } catch (e) {
      throw this.unavailable("delete", e);
    }
  }
}
