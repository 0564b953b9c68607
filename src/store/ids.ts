/**
 * Session id generation, as OpenSSL's generate_session_id callback and its
 * manual's example: random bytes of the configured length, starting with the
 * context's id_prefix (e.g. a host id, for load balancing) clipped to that
 * length, checked against the store (SSL_has_matching_session_id) and
 * retried at most MAX_ID_ATTEMPTS times.
 */
import type { Bytes } from "../core/index.js";

/** The seed's MAX_SESSION_ID_ATTEMPTS. */
export const MAX_ID_ATTEMPTS = 10;

export type RandomBytes = (length: number) => Bytes;

export const secureRandom: RandomBytes = (length) => crypto.getRandomValues(new Uint8Array(length));

/** One candidate: `length` random bytes with the prefix written over their start. */
export function candidateId(prefix: Bytes, length: number, random: RandomBytes = secureRandom): Bytes {
  const id = random(length);
  // "If our prefix is too long, clip it": a prefix of length bytes leaves one possible id.
  id.set(prefix.subarray(0, length));
  return id;
}

export interface GenerateOptions {
  prefix: Bytes;
  /** 1 to 32. */
  length: number;
  /** True when the id is already in use. */
  taken(id: Bytes): Promise<boolean>;
  random?: RandomBytes;
  maxAttempts?: number;
}

/** An unused id and the attempts it took, or undefined after maxAttempts taken ids. */
export async function generateSessionId(options: GenerateOptions): Promise<{ id: Bytes; attempts: number } | undefined> {
  const max = options.maxAttempts ?? MAX_ID_ATTEMPTS;
  for (let attempts = 1; attempts <= max; attempts++) {
    const id = candidateId(options.prefix, options.length, options.random);
    if (!(await options.taken(id))) return { id, attempts };
  }
  return undefined;
}
