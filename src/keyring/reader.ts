/**
 * The ring as one isolate sees it: a cached copy of the published ring with
 * each key's material unwrapped once into a TicketKeyCache.
 *
 * Key states are computed from the copy's times at the moment of use, so a
 * stale copy can never encrypt with a key whose encrypt window has ended,
 * nor decrypt with a key past its expiry. The copy is refreshed in the
 * background after cache_ttl, and at once (single-flight, at most once a
 * second) when a ticket names a key id it does not know.
 */
import { bytesEqual, TicketKeyCache, type Bytes, type TicketKeySource } from "../core/index.js";
import { ServiceError } from "../http/errors.js";
import type { PublishedRing } from "./object.js";
import { activeKey, keyState, type KeyState, type KeyTimes, type ScheduleSettings } from "./schedule.js";
import { unwrapKey } from "./material.js";

/** Where the ring comes from: the ring's Durable Object, or a fake in tests. */
export type RingSource = (now: number) => Promise<PublishedRing>;

interface Snapshot {
  keys: Map<number, KeyTimes>;
  /** Revoked key id -> the unix second its window would have ended. */
  revoked: Map<number, number>;
  ordered: KeyTimes[];
  settings: ScheduleSettings;
  /** Unix seconds at which this copy was fetched. */
  fetchedAt: number;
}

export interface SealingKey {
  times: KeyTimes;
  subkey: CryptoKey | Promise<CryptoKey>;
}

const UNKNOWN_ID_REFRESH_INTERVAL = 1;

const NO_KEYS: TicketKeySource = { subkey: () => undefined };

export class KeyRingReader {
  private snapshot: Snapshot | undefined;
  private readonly cache = new TicketKeyCache();
  /** Each cached key's wrapped form: tells a reused key id with new material from the same key. */
  private readonly wrappedById = new Map<number, Bytes>();
  private inflight: Promise<Snapshot> | undefined;
  private lastUnknownRefresh = -Infinity;
  /** The last refresh failure, kept for the status page and logs (never key material). */
  lastError: string | undefined;

  constructor(
    private readonly source: RingSource,
    private readonly kek: Promise<CryptoKey>,
    private readonly cacheTtl: number,
  ) {}

  /** Fetches the ring now (single-flight: concurrent callers share one fetch). */
  refresh(now: number): Promise<Snapshot> {
    if (!this.inflight) {
      this.refreshes++;
      this.inflight = this.load(now)
        .catch((e: unknown) => {
          this.refreshFailures++;
          throw e;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  /** Ring fetches started and failed by this reader (GET /metrics). */
  refreshes = 0;
  refreshFailures = 0;

  private async load(now: number): Promise<Snapshot> {
    let ring: PublishedRing;
    try {
      ring = await this.source(now);
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
      throw new ServiceError("keyring_unavailable", "the key ring cannot be reached");
    }
    const kek = await this.kek;
    const keys = new Map<number, KeyTimes>();
    for (const k of ring.keys) {
      const { wrapped, ...times } = k;
      keys.set(k.id, times);
      // A key id seen before with other material (ids are random 24-bit and
      // may come back after a fresh ring): the old CryptoKeys must go.
      const seen = this.wrappedById.get(k.id);
      if (seen && !bytesEqual(seen, wrapped)) this.cache.remove(k.id);
      if (!this.cache.has(k.id)) {
        const material = await unwrapKey(kek, k.id, wrapped).catch(() => {
          // The ring was wrapped under another MASTER_KEY (or tampered with):
          // say so plainly, never as a crypto exception.
          this.lastError = `key ${k.id} does not unwrap with this MASTER_KEY`;
          throw new ServiceError("keyring_unavailable", "the key ring cannot be unwrapped with this MASTER_KEY");
        });
        this.cache.add(k.id, material);
        material.fill(0);
        this.wrappedById.set(k.id, wrapped);
      }
    }
    for (const id of this.wrappedById.keys()) if (!keys.has(id)) this.wrappedById.delete(id);
    // Keys gone from the ring are destroyed: drop every CryptoKey derived from them.
    for (const id of this.cache.ids()) if (!keys.has(id)) this.cache.remove(id);
    this.lastError = undefined;
    this.snapshot = {
      keys,
      revoked: new Map(ring.revoked.map((k) => [k.id, k.expires_at])),
      ordered: [...keys.values()].sort((a, b) => a.activates_at - b.activates_at),
      settings: ring.settings,
      fetchedAt: now,
    };
    return this.snapshot;
  }

  /**
   * The current copy, fetched if there is none. A copy older than cache_ttl
   * is refreshed in the background (`defer` keeps the request alive for it).
   */
  async current(now: number, defer?: (p: Promise<unknown>) => void): Promise<Snapshot> {
    const snap = this.snapshot;
    if (!snap) return this.refresh(now);
    if (now - snap.fetchedAt >= this.cacheTtl && !this.inflight) {
      const p = this.refresh(now).catch(() => undefined);
      defer?.(p);
    }
    return snap;
  }

  /** The key that encrypts at `now`. Fails with keyring_unavailable rather than seal with an ended key. */
  async sealingKey(context: string, now: number, defer?: (p: Promise<unknown>) => void): Promise<SealingKey> {
    let snap = await this.current(now, defer);
    let times = activeKey(snap.ordered, now);
    if (!times) {
      snap = await this.refresh(now);
      times = activeKey(snap.ordered, now);
    }
    const subkey = times && this.cache.subkey(times.id, context);
    if (!times || !subkey) throw new ServiceError("keyring_unavailable", "no key may encrypt now");
    return { times, subkey };
  }

  /**
   * The key's times when it may decrypt at `now`; refreshes once for an id
   * this copy does not know (a revoked id is known: it costs no refresh).
   */
  async decryptingKey(keyId: number, now: number, defer?: (p: Promise<unknown>) => void): Promise<KeyTimes | undefined> {
    let snap = await this.current(now, defer);
    if (!snap.keys.has(keyId) && !isRevoked(snap, keyId, now) && now - this.lastUnknownRefresh >= UNKNOWN_ID_REFRESH_INTERVAL) {
      this.lastUnknownRefresh = now;
      snap = await this.refresh(now).catch(() => snap);
    }
    const times = snap.keys.get(keyId);
    return times && keyState(times, now) !== "destroyed" ? times : undefined;
  }

  /**
   * Whether a revoke destroyed this key while its tickets may still be alive
   * at `now`: the store fallback answers only for such keys (a key that
   * reached its own expiry has no live ticket; any other id was made up).
   */
  wasRevoked(keyId: number, now: number): boolean {
    return this.snapshot !== undefined && isRevoked(this.snapshot, keyId, now);
  }

  /**
   * The keys to open a ticket with, once decryptingKey has judged its key id:
   * this isolate's key cache when the key may decrypt now, none otherwise.
   * The judgement is made once per open, and no object is made per request.
   */
  openingKeys(times: KeyTimes | undefined): TicketKeySource {
    return times ? this.cache : NO_KEYS;
  }

  /**
   * The keys not destroyed at `now`, each with its state, from the cached
   * copy (refreshed after cache_ttl like every other read): for exporting
   * ticket keys to terminators.
   */
  async liveKeys(now: number, defer?: (p: Promise<unknown>) => void): Promise<{ keys: (KeyTimes & { state: KeyState })[]; settings: ScheduleSettings; fetchedAt: number }> {
    const snap = await this.current(now, defer);
    const keys = snap.ordered.map((k) => ({ ...k, state: keyState(k, now) })).filter((k) => k.state !== "destroyed");
    return { keys, settings: snap.settings, fetchedAt: snap.fetchedAt };
  }

  /** Bytes derived by HKDF from a ring key; undefined when the key is unknown or destroyed at `now`. */
  deriveKeyBytes(keyId: number, label: string, context: string, length: number, now: number): Promise<Bytes> | undefined {
    const times = this.snapshot?.keys.get(keyId);
    if (!times || keyState(times, now) === "destroyed") return undefined;
    return this.cache.deriveBytes(keyId, label, context, length);
  }

  /** The cached copy's key times and settings (no material), for GET /v1/keys and the status page. */
  async describe(now: number): Promise<{ keys: KeyTimes[]; settings: ScheduleSettings; fetchedAt: number }> {
    const snap = await this.refresh(now);
    return { keys: snap.ordered.filter((k) => keyState(k, now) !== "destroyed"), settings: snap.settings, fetchedAt: snap.fetchedAt };
  }
}

function isRevoked(snap: Snapshot, keyId: number, now: number): boolean {
  const until = snap.revoked.get(keyId);
  return until !== undefined && now < until;
}
