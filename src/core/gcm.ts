/**
 * AES-256-GCM for tickets, over memory reused from call to call: the hot
 * path's one optimisation of its kind, kept here and reachable only through
 * aesGcm.
 *
 * Why reuse is safe: WebCrypto copies its inputs before encrypt() or
 * decrypt() returns its promise (W3C Web Cryptography API: both methods
 * start by "getting a copy of the bytes held by" the data, and normalizing
 * the algorithm copies iv and additionalData the same way). Memory filled
 * and handed over in one synchronous turn is therefore free again the moment
 * the call returns, and no other call can run in between. The one rule is
 * that nothing awaits between filling the memory and the call: aesGcm makes
 * the call itself, right after `fill`, and `fill`'s type refuses an async
 * callback, which could await halfway and hand over memory another call has
 * refilled in the meantime.
 *
 * Why reuse at all: a fresh plaintext, nonce and AAD per ticket would be
 * three more typed arrays, and in workerd the plaintext, over 64 bytes, would
 * get an off-heap ArrayBuffer of its own (about 0.3 µs; see the ticket pool in
 * ticket.ts), next to an AES-GCM call of about 2 µs.
 */
import { utf8, type Bytes } from "./encoding.js";

export const NONCE_BYTES = 12;

/** What `fill` lends out: each valid until aesGcm has made its call. */
export interface Scratch {
  /** A buffer of at least n bytes, for the plaintext. */
  body(n: number): Bytes;
  /** NONCE_BYTES fresh random bytes (crypto.getRandomValues). */
  randomNonce(): Bytes;
  /** header[0 .. headerLength] followed by the UTF-8 of the context: a ticket's AAD. */
  aad(header: Bytes, headerLength: number, context: string): Bytes;
}

/** What encrypt() or decrypt() is called with, besides the key. */
export interface GcmInput {
  iv: Bytes;
  additionalData: Bytes;
  data: Bytes;
}

/** T, or never when T is a promise: a callback typed `() => Sync<T>` cannot be async. */
export type Sync<T> = T extends PromiseLike<unknown> ? never : T;

/**
 * AES-GCM encrypt or decrypt (128-bit tag) of what `fill` writes into the
 * scratch memory, in the same synchronous turn. Rejects as WebCrypto does
 * (decrypt: when the input does not authenticate).
 *
 * `fill` is a plain function of `ticket`, `a` and `b`, which aesGcm hands
 * on: a closure per ticket would cost an allocation, and make the caller's
 * variables it captures heap slots, on the hot path.
 */
export function aesGcm<I extends GcmInput, A, B>(
  op: "encrypt" | "decrypt",
  key: CryptoKey,
  fill: (scratch: Scratch, ticket: Bytes, a: A, b: B) => Sync<I>,
  ticket: Bytes,
  a: A,
  b: B,
): Promise<ArrayBuffer> {
  const { iv, additionalData, data } = fill(scratch, ticket, a, b);
  // tagLength is left at its default, 128 bits: naming it costs workerd one
  // more dictionary member to convert on every call.
  const algorithm = { name: "AES-GCM", iv, additionalData };
  return op === "encrypt" ? subtle().encrypt(algorithm, key, data) : subtle().decrypt(algorithm, key, data);
}

interface ContextAad {
  /** UTF-8 of the context name. */
  bytes: Bytes;
  /** By header length: a buffer of the AAD's length with the context already at its end. */
  aad: (Bytes | undefined)[];
}

class ScratchMemory implements Scratch {
  private plaintext = new Uint8Array(1024);
  private readonly nonce = new Uint8Array(NONCE_BYTES);
  private readonly contexts = new Map<string, ContextAad>();

  body(n: number): Bytes {
    if (this.plaintext.length < n) this.plaintext = new Uint8Array(Math.max(this.plaintext.length * 2, n));
    return this.plaintext;
  }

  randomNonce(): Bytes {
    return crypto.getRandomValues(this.nonce);
  }

  aad(header: Bytes, headerLength: number, context: string): Bytes {
    let c = this.contexts.get(context);
    if (!c) {
      c = { bytes: utf8.encode(context), aad: [] };
      if (this.contexts.size < 1024) this.contexts.set(context, c);
    }
    let out = c.aad[headerLength];
    if (out === undefined) {
      out = new Uint8Array(headerLength + c.bytes.length);
      out.set(c.bytes, headerLength);
      c.aad[headerLength] = out;
    }
    for (let i = 0; i < headerLength; i++) out[i] = header[i]!;
    return out;
  }
}

const scratch = new ScratchMemory();

/**
 * crypto.subtle, looked up once: in workerd each `crypto.subtle` is two
 * native accessor calls, measurable next to a 2 µs AES-GCM call.
 */
let cachedSubtle: SubtleCrypto | undefined;
const subtle = (): SubtleCrypto => (cachedSubtle ??= crypto.subtle);
