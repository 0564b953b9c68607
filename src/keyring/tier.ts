/**
 * The ring's read tier: how isolates get the ring without asking its one
 * Durable Object. The object publishes every change to Workers KV (one key
 * per ring, key material wrapped under the MASTER_KEY-derived KEK, never
 * raw); isolates read it from their location's Cache API (free, per
 * location, where the platform offers it: not on *.workers.dev nor behind
 * Access, where it is a no-op) and then from KV (edge-cached reads), and
 * ask the object only when the tier holds no ring they can use
 * (src/keyring/reader.ts). So the object's load grows with key events, not
 * with isolates.
 *
 * How stale a tier copy can be, each layer's bound (docs/key-rotation.md):
 * KV shows a write everywhere within 60 s; the Cache API keeps a copy
 * CACHE_SECONDS; an isolate keeps its copy up to 1.2 × cache_ttl. A key a
 * revoke or its expiry destroys has left every tier within their sum:
 * 116 s with the default cache_ttl, under 2 minutes.
 */
import { decodeBase64url, encodeBase64url } from "../core/index.js";
import type { KeyTimes, ScheduleSettings } from "./schedule.js";

export interface StoredKey extends KeyTimes {
  /** The key material wrapped under the MASTER_KEY-derived KEK. */
  wrapped: Uint8Array<ArrayBuffer>;
}

/** A key a revoke destroyed before its window ended, and when that window would have ended. */
export type RevokedKey = {
  id: number;
  expires_at: number;
};

/** What readers receive: the ring's keys (material wrapped) and the settings that shaped it. */
export interface PublishedRing {
  /** Grows with every change: of two copies, the higher is the newer. */
  revision: number;
  /** Public fingerprint of the KEK the material is wrapped under (kekFingerprint): a reader under another MASTER_KEY knows the copy is not for it. */
  kek: string;
  keys: StoredKey[];
  /**
   * Keys revoked while tickets sealed under them may still be alive (until
   * their original expiry): the only key ids whose store: true tickets the
   * store fallback answers for. No material, only ids and times.
   */
  revoked: RevokedKey[];
  settings: ScheduleSettings;
  /** Unix seconds at which the object produced this copy. */
  now: number;
}


/** Seconds a location's Cache API keeps the ring. */
export const CACHE_SECONDS = 20;
/** KV's edge cache of a read (its minimum cacheTtl). */
const KV_CACHE_TTL = 30;
/** KV shows a write everywhere within this many seconds (Cloudflare's figure, read caches included). */
export const KV_PROPAGATION_SECONDS = 60;
/**
 * Seconds within which the tier itself (KV, then a location's cache) shows
 * a publication everywhere. An isolate's copy adds its own refresh interval
 * (cache_ttl, jittered up to 1.2×): with the default 30 s, a published
 * change reaches every isolate within 116 s.
 */
export const TIER_LAG_SECONDS = KV_PROPAGATION_SECONDS + CACHE_SECONDS;

export interface RingTier {
  /** The ring as last published, from the nearest layer that holds it; undefined when none does (or it does not parse). */
  read(now: number): Promise<PublishedRing | undefined>;
  /** Keeps a ring this isolate got from the object in its location's cache, so its neighbours need not ask. */
  remember(ring: PublishedRing, now: number): Promise<void>;
}

/** The ring's KV key: one per ring object (tests name their own). */
export const tierKey = (ringName: string) => `ring:${ringName}:v1`;
const cacheUrl = (ringName: string) => `https://ring.esr.invalid/${encodeURIComponent(ringName)}/v1`;

export function ringTier(kv: KVNamespace, ringName: string, locationCache: Cache | Promise<Cache | undefined> | undefined): RingTier {
  const key = tierKey(ringName);
  const url = cacheUrl(ringName);
  return {
    async read(now) {
      const cache = await locationCache;
      const cached = await cache?.match(url).catch(() => undefined);
      // The entry's age by the service's clock (the one rotations run on), not only the cache's own max-age.
      if (cached && now - Number(cached.headers.get(CACHED_AT) ?? -Infinity) < CACHE_SECONDS) {
        const ring = decodePublishedRing(await cached.text());
        if (ring) return ring;
      }
      const text = await kv.get(key, { type: "text", cacheTtl: KV_CACHE_TTL });
      if (text === null) return undefined;
      const ring = decodePublishedRing(text);
      if (ring && cache) await cache.put(url, cacheable(text, now)).catch(() => undefined);
      return ring;
    },
    async remember(ring, now) {
      await (await locationCache)?.put(url, cacheable(encodePublishedRing(ring), now)).catch(() => undefined);
    },
  };
}

const CACHED_AT = "x-esr-cached-at";

function cacheable(text: string, now: number): Response {
  return new Response(text, { headers: { "content-type": "application/json", "cache-control": `max-age=${CACHE_SECONDS}`, [CACHED_AT]: String(now) } });
}

/** The object's side: one KV write per change of the ring. KV keeps it until the next (no expiry: the tier must survive an outage of the object). */
export async function publishRing(kv: KVNamespace, ringName: string, ring: PublishedRing): Promise<void> {
  await kv.put(tierKey(ringName), encodePublishedRing(ring));
}

interface PublishedJson {
  v: 1;
  revision: number;
  kek: string;
  now: number;
  settings: ScheduleSettings;
  keys: (Omit<StoredKey, "wrapped"> & { wrapped: string })[];
  revoked: RevokedKey[];
}

export function encodePublishedRing(ring: PublishedRing): string {
  const json: PublishedJson = {
    v: 1,
    revision: ring.revision,
    kek: ring.kek,
    now: ring.now,
    settings: ring.settings,
    keys: ring.keys.map((k) => ({ ...k, wrapped: encodeBase64url(k.wrapped) })),
    revoked: ring.revoked,
  };
  return JSON.stringify(json);
}

const isUint = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** Parses a published ring; undefined for anything that is not exactly one (a layer then counts as empty). */
export function decodePublishedRing(text: string): PublishedRing | undefined {
  let j: PublishedJson;
  try {
    j = JSON.parse(text) as PublishedJson;
  } catch {
    return undefined;
  }
  if (typeof j !== "object" || j === null || j.v !== 1 || !isUint(j.revision) || typeof j.kek !== "string" || !isUint(j.now)) return undefined;
  const s = j.settings;
  if (typeof s !== "object" || s === null || !isUint(s.rotation_period) || !isUint(s.prepublish_lead) || !isUint(s.max_ticket_lifetime)) return undefined;
  if (!Array.isArray(j.keys) || !Array.isArray(j.revoked)) return undefined;
  const keys: StoredKey[] = [];
  for (const k of j.keys) {
    const wrapped = typeof k?.wrapped === "string" ? decodeBase64url(k.wrapped) : undefined;
    if (!wrapped || ![k.id, k.published_at, k.activates_at, k.deactivates_at, k.expires_at].every(isUint)) return undefined;
    keys.push({ id: k.id, published_at: k.published_at, activates_at: k.activates_at, deactivates_at: k.deactivates_at, expires_at: k.expires_at, wrapped });
  }
  const revoked: RevokedKey[] = [];
  for (const r of j.revoked) {
    if (!isUint(r?.id) || !isUint(r?.expires_at)) return undefined;
    revoked.push({ id: r.id, expires_at: r.expires_at });
  }
  return { revision: j.revision, kek: j.kek, now: j.now, settings: { rotation_period: s.rotation_period, prepublish_lead: s.prepublish_lead, max_ticket_lifetime: s.max_ticket_lifetime }, keys, revoked };
}
