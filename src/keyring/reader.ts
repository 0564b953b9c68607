/**
 * The ring as one isolate sees it: a copy of the published ring with each
 * key's material unwrapped once into a TicketKeyCache.
 *
 * Where the copy comes from: the read tier (./tier.ts: the location's cache,
 * then KV), refreshed in the background about every cache_ttl (jittered, so
 * isolates started together do not stay in step). The ring's Durable Object
 * is asked only when the tier holds no ring this isolate can use (none at
 * all, one wrapped under another MASTER_KEY, or one with no key that may
 * encrypt now), by one request at a time, backing off exponentially with
 * jitter after a failure. So its load grows with key events, not isolates.
 *
 * Key states are computed from the copy's times at the moment of use, so a
 * stale copy can never encrypt with a key whose encrypt window has ended,
 * nor decrypt with a key past its expiry. A ticket naming a key id the copy
 * does not know costs nothing when the id is known to be revoked or
 * destroyed, or when the copy cannot lack a live key (every key is
 * published prepublish_lead before it encrypts); otherwise one tier read,
 * at most every UNKNOWN_ID_INTERVAL seconds.
 */
import { bytesEqual, TicketKeyCache, type Bytes, type TicketKeySource } from "../core/index.js";
import { ServiceError } from "../errors.js";
import { unwrapKey } from "./material.js";
import { activeKey, keyState, type KeyState, type KeyTimes, type ScheduleSettings } from "./schedule.js";
import { TIER_LAG_SECONDS, type PublishedRing, type RingTier } from "./tier.js";

/** Where the ring comes from: the read tier, and the ring's Durable Object (fakes in tests). */
export interface RingSources {
  tier: RingTier;
  object(now: number): Promise<PublishedRing>;
}

interface Snapshot {
  keys: Map<number, KeyTimes>;
  ordered: KeyTimes[];
  /** Revoked key id -> the unix second its window would have ended. */
  revoked: Map<number, number>;
  settings: ScheduleSettings;
  revision: number;
  /** Unix seconds at which this copy was last known to be as new as the tier's. */
  fetchedAt: number;
}

export interface SealingKey {
  times: KeyTimes;
  subkey: CryptoKey | Promise<CryptoKey>;
}

/** Seconds between tier reads for key ids the copy does not know (a flood of made-up ids). */
export const UNKNOWN_ID_INTERVAL = 30;
/** The object is asked again after a failure no sooner than this, doubling (with jitter) up to OBJECT_BACKOFF_MAX. */
const OBJECT_BACKOFF_MIN = 1;
const OBJECT_BACKOFF_MAX = 60;
/** Ids seen in an earlier copy and gone from a later one (destroyed), remembered at most. */
const DESTROYED_IDS_MAX = 1024;

const NO_KEYS: TicketKeySource = { subkey: () => undefined };

export class KeyRingReader {
  private snapshot: Snapshot | undefined;
  private readonly cache = new TicketKeyCache();
  /** Each cached key's wrapped form: tells a reused key id with new material from the same key. */
  private readonly wrappedById = new Map<number, Bytes>();
  private readonly destroyed = new Set<number>();
  private inflight: Promise<Snapshot> | undefined;
  private nextRefreshAt = -Infinity;
  private lastUnknownLookup = -Infinity;
  private objectFailuresInARow = 0;
  private objectRetryAt = -Infinity;
  /** The last refresh failure, kept for the status page and logs (never key material). */
  lastError: string | undefined;

  /** What this reader asked for (GET /metrics): tier reads, the object's fetches and failures, unknown key ids. */
  readonly counts = { refreshes: 0, refreshFailures: 0, tierReads: 0, tierUnusable: 0, objectFetches: 0, objectFailures: 0, unknownIdLookups: 0, unknownIdsIgnored: 0 };

  constructor(
    private readonly sources: RingSources,
    private readonly kek: Promise<CryptoKey>,
    private readonly fingerprint: Promise<string>,
    private readonly cacheTtl: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Ring fetches started and failed by this reader (GET /metrics). */
  get refreshes(): number {
    return this.counts.refreshes;
  }
  get refreshFailures(): number {
    return this.counts.refreshFailures;
  }

  /** Fetches the ring now (single-flight: concurrent callers share one fetch). */
  refresh(now: number): Promise<Snapshot> {
    if (!this.inflight) {
      this.counts.refreshes++;
      // The next background refresh is due a jittered cache_ttl from this attempt, failed or not.
      this.nextRefreshAt = now + this.cacheTtl * (0.8 + 0.4 * this.random());
      this.inflight = this.load(now)
        .catch((e: unknown) => {
          this.counts.refreshFailures++;
          throw e;
        })
        .finally(() => {
          this.inflight = undefined;
        });
    }
    return this.inflight;
  }

  private async load(now: number): Promise<Snapshot> {
    this.counts.tierReads++;
    const fromTier = await this.sources.tier.read(now).catch((e: unknown) => {
      this.lastError = `the ring's read tier failed: ${e instanceof Error ? e.message : String(e)}`;
      return undefined;
    });
    if (fromTier) {
      const current = this.snapshot;
      // The tier has not caught up with what this isolate already holds (a ring it got from the object): keep it.
      if (current && fromTier.revision < current.revision && activeKey(current.ordered, now)) {
        current.fetchedAt = now;
        return current;
      }
      if (fromTier.kek === (await this.fingerprint) && activeKey(fromTier.keys, now)) {
        const installed = await this.install(fromTier, now).catch(() => undefined);
        if (installed) return installed;
      }
    }
    this.counts.tierUnusable++;
    const ring = await this.fromObject(now);
    void this.sources.tier.remember(ring, now);
    return this.install(ring, now);
  }

  /** One request to the object, unless a recent failure says to wait (exponential backoff, full jitter). */
  private async fromObject(now: number): Promise<PublishedRing> {
    if (now < this.objectRetryAt) throw new ServiceError("keyring_unavailable", "the key ring cannot be reached");
    this.counts.objectFetches++;
    try {
      const ring = await this.sources.object(now);
      this.objectFailuresInARow = 0;
      return ring;
    } catch (e) {
      this.counts.objectFailures++;
      this.lastError = e instanceof ServiceError ? e.message : e instanceof Error ? e.message : String(e);
      const backoff = Math.min(OBJECT_BACKOFF_MAX, OBJECT_BACKOFF_MIN * 2 ** this.objectFailuresInARow++);
      this.objectRetryAt = now + backoff * (0.5 + this.random());
      throw new ServiceError("keyring_unavailable", "the key ring cannot be reached");
    }
  }

  /** Takes a ring this isolate was handed (a rotation's answer) as its copy, if it is newer. */
  async accept(ring: PublishedRing, now: number): Promise<void> {
    if (this.snapshot && ring.revision < this.snapshot.revision) return;
    await this.install(ring, now);
    void this.sources.tier.remember(ring, now);
  }

  private async install(ring: PublishedRing, now: number): Promise<Snapshot> {
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
    // Keys gone from the ring are destroyed: drop every CryptoKey derived from them, and remember their ids.
    for (const id of this.cache.ids()) {
      if (keys.has(id)) continue;
      this.cache.remove(id);
      this.destroyed.add(id);
      if (this.destroyed.size > DESTROYED_IDS_MAX) this.destroyed.delete(this.destroyed.values().next().value!);
    }
    this.lastError = undefined;
    this.snapshot = {
      keys,
      ordered: [...keys.values()].sort((a, b) => a.activates_at - b.activates_at),
      revoked: new Map(ring.revoked.map((k) => [k.id, k.expires_at])),
      settings: ring.settings,
      revision: ring.revision,
      fetchedAt: now,
    };
    return this.snapshot;
  }

  /**
   * The current copy, fetched if there is none. A copy due for its jittered
   * refresh is refreshed in the background (`defer` keeps the request alive
   * for it); the answer never waits for that.
   */
  async current(now: number, defer?: (p: Promise<unknown>) => void): Promise<Snapshot> {
    const snap = this.snapshot;
    if (!snap) return this.refresh(now);
    if (now >= this.nextRefreshAt && !this.inflight) {
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
   * The key's times when it may decrypt at `now`. An id the copy does not
   * know is looked up (at the tier) only when the copy could lack a live
   * key, and at most every UNKNOWN_ID_INTERVAL seconds; an id known to be
   * revoked or destroyed never is.
   */
  async decryptingKey(keyId: number, now: number, defer?: (p: Promise<unknown>) => void): Promise<KeyTimes | undefined> {
    let snap = await this.current(now, defer);
    if (!snap.keys.has(keyId)) {
      const known = isRevoked(snap, keyId, now) || this.destroyed.has(keyId);
      // Every key is published prepublish_lead before it encrypts, and the tier shows a publication within TIER_LAG_SECONDS.
      const couldLack = now - snap.fetchedAt > snap.settings.prepublish_lead - TIER_LAG_SECONDS;
      if (!known && couldLack && now - this.lastUnknownLookup >= UNKNOWN_ID_INTERVAL) {
        this.lastUnknownLookup = now;
        this.counts.unknownIdLookups++;
        snap = await this.refresh(now).catch(() => snap);
      } else {
        this.counts.unknownIdsIgnored++;
      }
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
   * The keys not destroyed at `now`, each with its state, and the revoked
   * ids, from the copy: for GET /v1/keys and for exporting ticket keys.
   */
  async liveKeys(now: number, defer?: (p: Promise<unknown>) => void): Promise<{ keys: (KeyTimes & { state: KeyState })[]; revoked: { id: number; expires_at: number }[]; settings: ScheduleSettings; fetchedAt: number }> {
    // Off the handshake path (operators, terminators' key sync): a copy due
    // for its refresh is refreshed first, from the tier, so the answer is as
    // fresh as the tier; a failed refresh answers from the copy all the same.
    if (this.snapshot && now >= this.nextRefreshAt) await this.refresh(now).catch(() => undefined);
    const snap = await this.current(now, defer);
    const keys = snap.ordered.map((k) => ({ ...k, state: keyState(k, now) })).filter((k) => k.state !== "destroyed");
    const revoked = [...snap.revoked].filter(([, until]) => now < until).map(([id, expires_at]) => ({ id, expires_at }));
    return { keys, revoked, settings: snap.settings, fetchedAt: snap.fetchedAt };
  }

  /** Bytes derived by HKDF from a ring key; undefined when the key is unknown or destroyed at `now`. */
  deriveKeyBytes(keyId: number, label: string, context: string, length: number, now: number): Promise<Bytes> | undefined {
    const times = this.snapshot?.keys.get(keyId);
    if (!times || keyState(times, now) === "destroyed") return undefined;
    return this.cache.deriveBytes(keyId, label, context, length);
  }
}

function isRevoked(snap: Snapshot, keyId: number, now: number): boolean {
  const until = snap.revoked.get(keyId);
  return until !== undefined && now < until;
}
