/**
 * The Workers KV adapter of SessionStorage: the fleet-wide external cache.
 *
 * KV refuses expirations under 60 s, so a record is written with
 * expirationTtl of at least 60 s and its own expires_at is checked on every
 * read (src/store/external.ts): a 5 s session is gone after 5 s although KV
 * keeps the bytes for a minute.
 */
import type { SessionStorage } from "./storage.js";

/** KV's shortest expirationTtl. */
export const KV_MIN_TTL = 60;

export function kvStorage(namespace: KVNamespace): SessionStorage {
  return {
    async get(key) {
      const value = await namespace.get(key, "arrayBuffer");
      return value === null ? undefined : new Uint8Array(value);
    },
    async put(key, value, ttl) {
      await namespace.put(key, value, { expirationTtl: Math.max(KV_MIN_TTL, Math.ceil(ttl)) });
    },
    async delete(key) {
      await namespace.delete(key);
    },
  };
}
