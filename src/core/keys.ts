/**
 * Key material and the keys derived from it. Ring keys are 256-bit random
 * material; each context gets its own AES-256-GCM subkey of each ring key,
 * derived with HKDF-SHA-256 (the context in the info), imported once and
 * cached as a non-extractable CryptoKey: an operation never imports a key.
 */
import { ResumptionError } from "./errors.js";
import { utf8, type Bytes } from "./encoding.js";

export const KEY_BYTES = 32;
/** Key ids are 24 bits on the wire (docs/ticket-format.md). */
export const MAX_KEY_ID = 0xffffff;

/** HKDF info labels: one per purpose, so no two purposes ever share a derived key. */
export const HKDF_LABEL = {
  ticket: "esr ticket v1",
  sessionStore: "esr session-store v1",
  keyRingKek: "esr key-ring kek v1",
  keyRingKekCheck: "esr key-ring kek check v1",
  /** TLS session ticket encryption keys exported to terminators (GET /v1/keys/export). */
  stek: "esr stek v1",
} as const;

const EMPTY_SALT = new Uint8Array(0);

function hkdfInfo(label: string, context: string): Bytes {
  // label NUL context: the NUL keeps ("ab", "c") and ("a", "bc") apart.
  const l = utf8.encode(label);
  const c = utf8.encode(context);
  const info = new Uint8Array(l.length + 1 + c.length);
  info.set(l);
  info.set(c, l.length + 1);
  return info;
}

function checkKeyMaterial(material: Bytes, what = "key material"): void {
  if (!(material instanceof Uint8Array) || material.length !== KEY_BYTES) {
    throw new ResumptionError("key_invalid", `${what} must be ${KEY_BYTES} bytes`);
  }
}

/** Imports 256-bit material as a non-extractable HKDF base key. */
export function importHkdfKey(material: Bytes): Promise<CryptoKey> {
  checkKeyMaterial(material);
  return crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveKey", "deriveBits"]);
}

export function deriveAesGcmKey(base: CryptoKey, label: string, context: string): Promise<CryptoKey> {
  return crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt: EMPTY_SALT, info: hkdfInfo(label, context) },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

export async function deriveBytes(base: CryptoKey, label: string, context: string, length: number): Promise<Bytes> {
  const bits = await crypto.subtle.deriveBits(
    { name: "HKDF", hash: "SHA-256", salt: EMPTY_SALT, info: hkdfInfo(label, context) },
    base,
    length * 8,
  );
  return new Uint8Array(bits);
}

/** What the ticket codec needs: a context's subkey of a ring key, by key id. */
export interface TicketKeySource {
  /** The subkey, synchronously when cached; undefined when the key id is unknown. */
  subkey(keyId: number, context: string): CryptoKey | Promise<CryptoKey> | undefined;
}

interface RingKeyEntry {
  base: Promise<CryptoKey>;
  ready: Map<string, CryptoKey>;
  pending: Map<string, Promise<CryptoKey>>;
}

/**
 * The ring keys this isolate holds, with their per-context subkeys derived
 * lazily and cached. Removing a key drops every CryptoKey derived from it.
 */
export class TicketKeyCache implements TicketKeySource {
  private readonly entries = new Map<number, RingKeyEntry>();

  /** Adds a ring key. The caller may zero `material` once this returns. */
  add(keyId: number, material: Bytes): void {
    if (!Number.isInteger(keyId) || keyId < 0 || keyId > MAX_KEY_ID) {
      throw new ResumptionError("key_invalid", `key id must be an integer from 0 to ${MAX_KEY_ID}`);
    }
    checkKeyMaterial(material);
    if (this.entries.has(keyId)) return;
    // importKey copies the bytes before returning its promise.
    this.entries.set(keyId, { base: importHkdfKey(material), ready: new Map(), pending: new Map() });
  }

  remove(keyId: number): void {
    this.entries.delete(keyId);
  }

  has(keyId: number): boolean {
    return this.entries.has(keyId);
  }

  ids(): number[] {
    return [...this.entries.keys()];
  }

  /**
   * Raw bytes derived by HKDF from a ring key (e.g. a terminator's ticket key);
   * undefined when the key id is unknown. The entry is read synchronously, so
   * a key removed after this call still completes a derivation it started.
   */
  deriveBytes(keyId: number, label: string, context: string, length: number): Promise<Bytes> | undefined {
    const entry = this.entries.get(keyId);
    if (!entry) return undefined;
    return entry.base.then((base) => deriveBytes(base, label, context, length));
  }

  subkey(keyId: number, context: string): CryptoKey | Promise<CryptoKey> | undefined {
    const entry = this.entries.get(keyId);
    if (!entry) return undefined;
    const ready = entry.ready.get(context);
    if (ready) return ready;
    let pending = entry.pending.get(context);
    if (!pending) {
      pending = entry.base.then((base) => deriveAesGcmKey(base, HKDF_LABEL.ticket, context));
      entry.pending.set(context, pending);
      pending.then(
        (key) => {
          entry.ready.set(context, key);
          entry.pending.delete(context);
        },
        () => entry.pending.delete(context),
      );
    }
    return pending;
  }
}
