/**
 * The internal session cache: an in-memory LRU bounded in entries (OpenSSL's
 * cache_size; 0 for no count bound) and in bytes, whose entries carry their
 * expiry. Pure: time is a parameter, nothing here reads a clock.
 *
 * A Map keeps insertion order, so re-inserting a key on use makes the first
 * key the least recently used one.
 */

export interface LruOptions {
  /** Most entries; 0: no bound on the count (the byte bound still holds). */
  maxEntries: number;
  /** Most bytes, as the caller sizes its entries. */
  maxBytes: number;
}

interface Entry<V> {
  value: V;
  /** Unix seconds; the entry is expired from this second on. */
  expiresAt: number;
  bytes: number;
}

export type LruLookup<V> = { status: "hit"; value: V; expiresAt: number } | { status: "expired" } | { status: "miss" };

export class LruCache<V> {
  private readonly entries = new Map<string, Entry<V>>();
  private usedBytes = 0;

  constructor(private readonly options: LruOptions) {}

  /** Entries held, expired ones not yet swept included (SSL_CTX_sess_number counts those too). */
  get size(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.usedBytes;
  }

  /**
   * Looks a key up and marks it most recently used. An expired entry is
   * removed and reported as such, never returned.
   */
  lookup(key: string, now: number): LruLookup<V> {
    const entry = this.entries.get(key);
    if (!entry) return { status: "miss" };
    this.entries.delete(key);
    if (now >= entry.expiresAt) {
      this.usedBytes -= entry.bytes;
      return { status: "expired" };
    }
    this.entries.set(key, entry);
    return { status: "hit", value: entry.value, expiresAt: entry.expiresAt };
  }

  /** The entry without touching its recency or removing it; undefined when absent or expired. */
  peek(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    return entry && now < entry.expiresAt ? entry.value : undefined;
  }

  /**
   * Adds or replaces an entry as the most recently used one. Returns how many
   * other entries were evicted to make room (OpenSSL's sess_cache_full). An
   * entry larger than the whole byte bound is not cached at all.
   */
  set(key: string, value: V, expiresAt: number, bytes: number): { stored: boolean; evicted: number } {
    this.delete(key);
    if (bytes > this.options.maxBytes) return { stored: false, evicted: 0 };
    let evicted = 0;
    const { maxEntries, maxBytes } = this.options;
    while (this.entries.size > 0 && ((maxEntries > 0 && this.entries.size >= maxEntries) || this.usedBytes + bytes > maxBytes)) {
      const oldest = this.entries.keys().next().value as string;
      this.delete(oldest);
      evicted++;
    }
    this.entries.set(key, { value, expiresAt, bytes });
    this.usedBytes += bytes;
    return { stored: true, evicted };
  }

  /** Moves an entry's expiry (update_time); false when the key is absent. */
  touch(key: string, value: V, expiresAt: number): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    entry.value = value;
    entry.expiresAt = expiresAt;
    return true;
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.entries.delete(key);
    this.usedBytes -= entry.bytes;
    return true;
  }

  /**
   * SSL_CTX_flush_sessions: removes every entry expired at `before` (its
   * expiry at or before it); `before` 0 removes everything, as in OpenSSL.
   * Returns how many were removed.
   */
  flush(before: number): number {
    let removed = 0;
    for (const [key, entry] of this.entries) {
      if (before === 0 || entry.expiresAt <= before) {
        this.delete(key);
        removed++;
      }
    }
    return removed;
  }
}
