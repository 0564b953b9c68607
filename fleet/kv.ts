/**
 * Workers KV as the fleet sees it (Cloudflare's "How KV works" and KV limits
 * pages), modelled in memory on the virtual clock:
 *
 * - a write goes to the central stores; it is visible at once in the location
 *   that made it, and in another location only after that location's
 *   propagation delay (up to propagation_max: 60 s by default);
 * - each location caches what it read, values and absences alike, for
 *   cache_ttl (60 s, KV's default cacheTtl): a location that looked a key up
 *   keeps its answer until the entry expires, even if the key was written
 *   since (negative lookups are cached too). A read served from that cache is
 *   hot, any other is cold (fleet/latency.ts prices both);
 * - one write per second per key: a second write (put or delete) to a key
 *   within write_interval of the last accepted one is refused, as KV's 429.
 *
 * Values expire at their expirationTtl everywhere. Pure: time is a parameter.
 */

export interface KvSettings {
  /** How long a location keeps what it read (KV's cacheTtl default). */
  cache_ttl_s: number;
  /** A location other than the writer's sees a write after a delay up to this. */
  propagation_max_s: number;
  /** KV accepts one write per key per this many milliseconds. */
  write_interval_ms: number;
}

export const DEFAULT_KV: KvSettings = { cache_ttl_s: 60, propagation_max_s: 60, write_interval_ms: 1000 };

/** What KV's binding rejects before any request (KV limits page). */
export const KV_LIMITS = { minExpirationTtl: 60, maxKeyBytes: 512, maxValueBytes: 25 * 1024 * 1024 } as const;

interface Version {
  /** undefined: a delete. */
  value: Uint8Array | undefined;
  /** Virtual ms; undefined: never. */
  expiresAt: number | undefined;
  writtenAt: number;
  location: string;
}

interface CacheEntry {
  version: Version | undefined;
  until: number;
}

export type KvWriteKind = "put" | "delete";

/** KV's refusal of a second write to a key within a second (HTTP 429 from the binding). */
export class KvRateLimitError extends Error {
  override readonly name = "KvRateLimitError";
  constructor(kind: KvWriteKind) {
    super(`KV ${kind.toUpperCase()} failed: 429 Too Many Requests`);
  }
}

export class KvModel {
  private readonly history = new Map<string, Version[]>();
  private readonly caches = new Map<string, Map<string, CacheEntry>>();
  private readonly lastWrite = new Map<string, number>();

  constructor(
    readonly settings: KvSettings,
    /** Milliseconds after a write before `location` (not the writer's) can see it. */
    private readonly propagationDelay: (location: string) => number,
  ) {}

  /** The value `location` reads at `now`, and whether its cache answered. */
  read(location: string, key: string, now: number, cacheTtlS = this.settings.cache_ttl_s): { value: Uint8Array | undefined; hot: boolean } {
    const cache = this.cacheOf(location);
    const cached = cache.get(key);
    if (cached && cached.until > now) return { value: live(cached.version, now), hot: true };
    const version = this.visible(location, key, now);
    cache.set(key, { version, until: now + cacheTtlS * 1000 });
    return { value: live(version, now), hot: false };
  }

  /** A put (value) or delete (undefined) from `location` at `now`; throws KvRateLimitError within write_interval of the last one. */
  write(location: string, key: string, value: Uint8Array | undefined, now: number, expirationTtlS?: number): void {
    const last = this.lastWrite.get(key);
    if (last !== undefined && now - last < this.settings.write_interval_ms) throw new KvRateLimitError(value ? "put" : "delete");
    this.lastWrite.set(key, now);
    const version: Version = {
      value: value?.slice(),
      expiresAt: value && expirationTtlS !== undefined ? now + expirationTtlS * 1000 : undefined,
      writtenAt: now,
      location,
    };
    const versions = this.history.get(key) ?? [];
    versions.push(version);
    this.history.set(key, this.prune(versions, now));
    // Visible at once where it was written.
    this.cacheOf(location).set(key, { version, until: now + this.settings.cache_ttl_s * 1000 });
  }

  /** The key is gone everywhere at once, location caches included (a fault to inject: a lost namespace, not a delete). */
  forget(key: string): void {
    this.history.delete(key);
    this.lastWrite.delete(key);
    for (const cache of this.caches.values()) cache.delete(key);
  }

  /** The newest version `location` can see at `now`. */
  private visible(location: string, key: string, now: number): Version | undefined {
    const versions = this.history.get(key);
    if (!versions) return undefined;
    const delay = this.propagationDelay(location);
    for (let i = versions.length - 1; i >= 0; i--) {
      const v = versions[i]!;
      if (v.writtenAt + (v.location === location ? 0 : delay) <= now) return v;
    }
    return undefined;
  }

  /** Keeps the newest version every location already sees, and those newer. */
  private prune(versions: Version[], now: number): Version[] {
    const horizon = now - this.settings.propagation_max_s * 1000;
    let keepFrom = 0;
    for (let i = versions.length - 1; i >= 0; i--) {
      if (versions[i]!.writtenAt <= horizon) {
        keepFrom = i;
        break;
      }
    }
    return keepFrom > 0 ? versions.slice(keepFrom) : versions;
  }

  private cacheOf(location: string): Map<string, CacheEntry> {
    let cache = this.caches.get(location);
    if (!cache) {
      cache = new Map();
      this.caches.set(location, cache);
    }
    return cache;
  }
}

function live(version: Version | undefined, now: number): Uint8Array | undefined {
  if (!version?.value) return undefined;
  if (version.expiresAt !== undefined && now >= version.expiresAt) return undefined;
  return version.value.slice();
}

/**
 * Per-location propagation delays spread evenly over [0, max] (the middle of
 * each of `count` equal slices), in a seeded order: with eight locations,
 * about one in eight sees a write within the first 7.5 s.
 */
export function spreadDelays(locations: readonly string[], maxS: number, shuffle: <T>(items: T[]) => T[]): Map<string, number> {
  const slices = locations.map((_, i) => Math.round(((i + 0.5) / locations.length) * maxS * 1000));
  const order = shuffle([...locations]);
  return new Map(order.map((name, i) => [name, slices[i]!]));
}
