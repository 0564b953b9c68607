/**
 * The session store of one isolate: per context, an internal cache (the
 * isolate's LRU) in front of the external cache (KV, encrypted), composed by
 * the context's cache_mode and flags with OpenSSL's semantics
 * (SSL_CTX_set_session_cache_mode; docs/session-store.md maps each one):
 *
 * - a lookup tries the internal cache first unless no_internal_lookup (which,
 *   as in OpenSSL, does not apply to the client cache), then the external one;
 * - a session found externally is copied in unless no_internal_store, and a
 *   new session is put in both unless no_internal_store;
 * - expired entries are swept every 255 cache operations unless no_auto_clear;
 * - update_time counts the timeout from the last use (refreshed in KV at most
 *   once a second per key, and never past 7 days from creation).
 *
 * Counters are OpenSSL's (SSL_CTX_sess_hits and friends) and cover this
 * isolate only. Writes to one key are serialised within the isolate, and a
 * lookup waits for a write to its key that is still in flight here (a
 * client that reconnects at once finds the session it just stored).
 *
 * KV takes one write a second per key, which shapes three rules:
 * - a remove (purge) is never refused: it takes effect here at once, with a
 *   tombstone that hides the key's KV copy from this isolate, and reaches KV
 *   now if KV allows, else through the replay guard's alarm as soon as it
 *   does (a timer here would die with the isolate);
 * - a server session stored again under an id this isolate purged less than
 *   PURGE_SETTLE_SECONDS ago is refused (429, Retry-After): the pending KV
 *   delete would otherwise remove it;
 * - a client session is never refused for the rate: one origin's sessions
 *   are interchangeable (any recent one resumes), so a store in the second
 *   of another store of the same origin keeps the newer session in this
 *   isolate and leaves KV with the one of that second.
 */
import { bytesEqual, decodeHex, encodeHex, SESSION_LIMITS, type Session } from "../core/index.js";
import type { CacheMode, ContextSettings } from "../config.js";
import { ServiceError } from "../errors.js";
import { storageKey, type ExternalCache } from "./external.js";
import { generateSessionId, MAX_ID_ATTEMPTS, secureRandom, type RandomBytes } from "./ids.js";
import { LruCache } from "./lru.js";
import { recordSize, sessionRecord, type RecordTimes, type SessionKind, type StoredRecord } from "./records.js";
import { Tombstones } from "./tombstones.js";
import { WriteGate } from "./write-gate.js";

/** OpenSSL flushes expired sessions every 255 connections. */
export const AUTO_CLEAR_INTERVAL = 255;
/** A KV delete KV cannot take yet is made this much later (ms): the second of the key's last write has passed. */
export const PURGE_DELAY_MS = 1100;
/** Seconds after a purge handed on, by which its KV delete has landed. */
export const PURGE_SETTLE_SECONDS = 2;

/** Whether a remove reached KV before it answered, or was handed on to land within PURGE_SETTLE_SECONDS. */
export type RemoveOutcome = "removed" | "pending";

/** Who makes the KV deletes an isolate cannot make yet, durably (the replay guard's alarm). */
export interface Purger {
  purgeLater(key: string, afterMs: number): Promise<void>;
}

/** Keeps background work alive past the answer (the request's waitUntil). */
export type Defer = (p: Promise<unknown>) => void;

/** OpenSSL's counters for one kind of lookup, named as its SSL_CTX_sess_* functions. */
export interface LookupCounters {
  /** Lookups answered with a valid session, from either cache (SSL_CTX_sess_hits). */
  sess_hits: number;
  /** Lookups the internal cache could not answer; not counted when it is not consulted (SSL_CTX_sess_misses). */
  sess_misses: number;
  /** Lookups that found only an expired session; not in sess_hits (SSL_CTX_sess_timeouts). */
  sess_timeouts: number;
  /** Lookups answered by the external cache (SSL_CTX_sess_cb_hits). */
  sess_cb_hits: number;
  /** Lookups the external cache could not answer (no OpenSSL counter: this service's addition). */
  sess_cb_misses: number;
}

const zeroCounters = (): LookupCounters => ({ sess_hits: 0, sess_misses: 0, sess_timeouts: 0, sess_cb_hits: 0, sess_cb_misses: 0 });

const MODE_HAS: Record<CacheMode, readonly SessionKind[]> = {
  off: [],
  server: ["server"],
  client: ["client"],
  both: ["server", "client"],
};

export interface StoreOptions {
  /** Random bytes for generated ids; tests pass their own. */
  random?: RandomBytes;
  /** Makes the KV deletes KV cannot take yet; without one (or when it fails) this isolate retries them itself, while it lives. */
  purger?: Purger;
  /** This isolate's replay-guard region code (src/replay/regions.ts), stamped on the sessions it stores: their takes are judged there. */
  region?: () => number;
}

export class ContextStore {
  readonly name: string;
  private readonly lru: LruCache<StoredRecord>;
  private readonly gate = new WriteGate();
  private readonly tombstones = new Tombstones();
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly counters: Record<SessionKind, LookupCounters> = { server: zeroCounters(), client: zeroCounters() };
  private cacheFull = 0;
  /** Client-session stores kept in this isolate only, KV holding another of the same second. */
  private coalesced = 0;
  private operations = 0;
  private readonly internalLookup: boolean;
  private readonly internalStore: boolean;
  private readonly autoClear: boolean;
  private readonly updateTime: boolean;

  constructor(
    readonly settings: ContextSettings,
    private readonly external: ExternalCache,
    private readonly options: StoreOptions = {},
  ) {
    this.name = settings.name;
    this.lru = new LruCache({ maxEntries: settings.cache_size, maxBytes: settings.cache_bytes });
    const flags = new Set(settings.flags);
    this.internalLookup = !flags.has("no_internal_lookup") && !flags.has("no_internal");
    this.internalStore = !flags.has("no_internal_store") && !flags.has("no_internal");
    this.autoClear = !flags.has("no_auto_clear");
    this.updateTime = flags.has("update_time");
  }

  supports(kind: SessionKind): boolean {
    return MODE_HAS[this.settings.cache_mode].includes(kind);
  }

  /** 409 cache_disabled unless the context's cache_mode has this kind of cache. */
  require(kind: SessionKind): void {
    if (!this.supports(kind)) {
      throw new ServiceError(
        "cache_disabled",
        `context ${this.name} has cache_mode ${this.settings.cache_mode}: no ${kind}-side session cache`,
      );
    }
  }

  /**
   * The get callback: the session stored under `name`, or undefined when
   * there is none, it has expired, or its record does not authenticate.
   */
  async get(kind: SessionKind, name: string, now: number): Promise<StoredRecord | undefined> {
    this.require(kind);
    // An update_time refresh is a write: it must not race a remove of the same key and bring it back.
    if (this.updateTime) return this.exclusive(kind, name, () => this.lookup(kind, name, now));
    // A store or remove of this key still in flight here decides what the lookup finds.
    await this.locks.get(this.cacheKey(kind, name));
    return this.lookup(kind, name, now);
  }

  private async lookup(kind: SessionKind, name: string, now: number): Promise<StoredRecord | undefined> {
    this.tick(now);
    const counters = this.counters[kind];
    const cacheKey = this.cacheKey(kind, name);
    if (this.tombstones.get(cacheKey, now)) {
      // Purged here: whatever KV still shows is not to be served.
      if (kind === "client" || this.internalLookup) counters.sess_misses++;
      counters.sess_cb_misses++;
      return undefined;
    }
    let sawExpired = false;
    if (kind === "client" || this.internalLookup) {
      const found = this.lru.lookup(cacheKey, now);
      if (found.status === "hit") {
        counters.sess_hits++;
        return this.used(kind, name, found.value, now);
      }
      sawExpired = found.status === "expired";
      counters.sess_misses++;
    }
    const read = await this.external.read(kind, this.name, name, now);
    if (read.status !== "found") {
      counters.sess_cb_misses++;
      if (sawExpired || read.status === "expired") counters.sess_timeouts++;
      return undefined;
    }
    counters.sess_cb_hits++;
    counters.sess_hits++;
    if (this.internalStore) this.cacheInternally(cacheKey, read.record);
    return this.used(kind, name, read.record, now);
  }

  /**
   * SSL_has_matching_session_id: whether an unexpired session is stored under
   * `name`, by the same path as a lookup but without counting, copying in or
   * refreshing anything.
   */
  async has(kind: SessionKind, name: string, now: number): Promise<boolean> {
    this.require(kind);
    const cacheKey = this.cacheKey(kind, name);
    await this.locks.get(cacheKey);
    if (this.tombstones.get(cacheKey, now)) return false;
    if ((kind === "client" || this.internalLookup) && this.lru.peek(cacheKey, now)) return true;
    return (await this.external.read(kind, this.name, name, now)).status === "found";
  }

  /**
   * The new-session callback. A server session is stored once: the same
   * session again (same content, whatever its times) answers the stored
   * record (created: false), another session under the same id is 409
   * session_exists. A client session replaces the peer's previous one.
   * Written to KV first, then to the internal cache: a failure leaves both
   * as they were.
   */
  async put(kind: SessionKind, name: string, session: Session, times: RecordTimes, now: number): Promise<{ record: StoredRecord; created: boolean }> {
    this.require(kind);
    const record = await sessionRecord(session, { region: this.options.region?.(), ...times });
    return this.exclusive(kind, name, async () => {
      this.tick(now);
      if (kind === "client") {
        await this.writeClient(name, record, now);
        return { record, created: true };
      }
      const cacheKey = this.cacheKey(kind, name);
      const purged = this.tombstones.get(cacheKey, now);
      if (purged && now < purged.settledAt) {
        throw new ServiceError("write_rate_limited", "this session id was purged less than a second ago here; its KV delete is still to land", {
          headers: { "retry-after": String(purged.settledAt - now) },
        });
      }
      // KV, not the internal cache, decides: another location may have deleted it.
      // After a purge here, what KV still shows under the id is what was purged.
      const existing = purged ? { status: "absent" as const } : await this.external.read(kind, this.name, name, now);
      if (existing.status === "found") {
        if (!bytesEqual(existing.record.digest, record.digest)) {
          throw new ServiceError("session_exists", "another session is stored under this session id");
        }
        if (this.internalStore) this.cacheInternally(cacheKey, existing.record);
        return { record: existing.record, created: false };
      }
      await this.write(kind, name, record, now);
      return { record, created: true };
    });
  }

  /**
   * A new server session under a generated id (the generate_session_id
   * callback): id_length bytes starting with id_prefix, unused in the store,
   * at most 10 attempts, else 503 id_generation_failed.
   */
  async create(session: Session, times: RecordTimes, now: number): Promise<{ id: string; record: StoredRecord; attempts: number }> {
    this.require("server");
    const generated = await generateSessionId({
      prefix: decodeHex(this.settings.id_prefix)!,
      length: this.settings.id_length,
      taken: (id) => this.has("server", encodeHex(id), now),
      random: this.options.random ?? secureRandom,
    });
    if (!generated) {
      throw new ServiceError("id_generation_failed", `no unused session id in ${MAX_ID_ATTEMPTS} attempts (id_prefix and id_length leave too few ids)`, {
        headers: { "retry-after": "1" },
      });
    }
    const id = encodeHex(generated.id);
    const record = await sessionRecord(session, { region: this.options.region?.(), ...times });
    await this.exclusive("server", id, async () => {
      this.tick(now);
      await this.write("server", id, record, now);
    });
    return { id, record, attempts: generated.attempts };
  }

  /**
   * The remove callback (a purge): idempotent, never refused. Takes effect
   * in this isolate at once (the internal cache, and a tombstone against
   * KV's copy); the KV delete is made now when KV allows ("removed"), else
   * handed to the purger, to land within PURGE_SETTLE_SECONDS ("pending"):
   * in the second of this isolate's last write to the key, or when KV
   * refuses or fails. `defer` keeps this isolate's own retry alive when
   * the purger cannot be reached either.
   */
  async remove(kind: SessionKind, name: string, now: number, defer?: Defer): Promise<RemoveOutcome> {
    this.require(kind);
    const cacheKey = this.cacheKey(kind, name);
    return this.exclusive(kind, name, async () => {
      this.tick(now);
      this.lru.delete(cacheKey);
      const written = this.gate.writtenAt(cacheKey, now);
      // Deleted from KV by this isolate this second already: nothing left to write.
      if (written === "delete") return "removed";
      if (written === undefined) {
        try {
          await this.external.remove(kind, this.name, name);
          this.gate.record(cacheKey, now, "delete");
          this.tombstones.set(cacheKey, now);
          return "removed";
        } catch {
          // Refused (another isolate wrote the key this second) or failed: logged by the external cache; handed on below.
        }
      }
      this.tombstones.set(cacheKey, now + PURGE_SETTLE_SECONDS);
      await this.purgeLater(kind, name, defer);
      return "pending";
    });
  }

  /** The KV delete, made later by the purger, or by this isolate while it lives when the purger cannot be reached. */
  private async purgeLater(kind: SessionKind, name: string, defer: Defer | undefined): Promise<void> {
    const key = await storageKey(kind, this.name, name);
    try {
      if (!this.options.purger) throw new Error("no purger");
      await this.options.purger.purgeLater(key, PURGE_DELAY_MS);
    } catch {
      const retry = async () => {
        for (let attempt = 0; attempt < 3; attempt++) {
          await new Promise((resolve) => setTimeout(resolve, PURGE_DELAY_MS * 2 ** attempt));
          try {
            await this.external.remove(kind, this.name, name);
            return;
          } catch {
            // Logged by the external cache.
          }
        }
      };
      defer?.(retry());
    }
  }

  /** SSL_CTX_flush_sessions on the internal cache: entries expired at `before`; 0 flushes all. */
  flush(before: number): number {
    return this.lru.flush(before);
  }

  stats() {
    return {
      sess_number: this.lru.size,
      sess_cache_size: this.settings.cache_size,
      sess_cache_full: this.cacheFull,
      ...this.counters.server,
      internal_bytes: this.lru.bytes,
      internal_max_bytes: this.settings.cache_bytes,
      client_writes_coalesced: this.coalesced,
      tombstones: this.tombstones.size,
      client: { ...this.counters.client },
    };
  }

  private cacheKey(kind: SessionKind, name: string): string {
    return `${kind === "server" ? "s" : "c"}:${name}`;
  }

  /** Every cache operation counts towards the automatic sweep (OpenSSL: every 255 connections). */
  private tick(now: number): void {
    this.operations++;
    if (this.autoClear && this.operations % AUTO_CLEAR_INTERVAL === 0) this.lru.flush(now);
  }

  private cacheInternally(cacheKey: string, record: StoredRecord): void {
    const { evicted } = this.lru.set(cacheKey, record, record.expiresAt, recordSize(record, cacheKey));
    this.cacheFull += evicted;
  }

  private checkGate(cacheKey: string, now: number): void {
    if (!this.gate.mayWrite(cacheKey, now)) {
      throw new ServiceError("write_rate_limited", "this key was written less than a second ago; KV takes one write per second per key", {
        headers: { "retry-after": "1" },
      });
    }
  }

  private async write(kind: SessionKind, name: string, record: StoredRecord, now: number): Promise<void> {
    const cacheKey = this.cacheKey(kind, name);
    this.checkGate(cacheKey, now);
    await this.external.write(kind, this.name, name, record, now);
    this.stored(cacheKey, record, now);
  }

  /** After a write to KV: the internal cache holds the new record, and no purge of the key is pending here any more. */
  private stored(cacheKey: string, record: StoredRecord, now: number): void {
    this.gate.record(cacheKey, now, "put");
    this.tombstones.delete(cacheKey);
    // A replaced session must not linger in the internal cache.
    this.lru.delete(cacheKey);
    if (this.internalStore) this.cacheInternally(cacheKey, record);
  }

  /**
   * A client session: the origin's sessions are interchangeable, so KV's
   * one write a second per key is met by coalescing, never by refusing. In
   * the second of another write to the key (this isolate's, which it knows,
   * or another's, which KV refuses) the new session stays in this isolate
   * (even under no_internal_store: it is the only copy of it) and KV keeps
   * that second's. Any other KV failure is a 503, as for every write.
   */
  private async writeClient(name: string, record: StoredRecord, now: number): Promise<void> {
    const cacheKey = this.cacheKey("client", name);
    if (this.gate.mayWrite(cacheKey, now)) {
      try {
        await this.external.write("client", this.name, name, record, now);
        this.stored(cacheKey, record, now);
        return;
      } catch (e) {
        if (!(e instanceof ServiceError && e.code === "write_rate_limited")) throw e;
      }
    }
    this.coalesced++;
    this.tombstones.delete(cacheKey);
    this.lru.delete(cacheKey);
    this.cacheInternally(cacheKey, record);
  }


  /**
   * After a hit: under update_time the timeout counts again from now (never
   * past 7 days from creation, RFC 8446's bound on a resumption secret). KV
   * is refreshed at most once a second per key (times are whole seconds, so
   * a later expiry is a later second); a failed refresh still answers the hit.
   */
  private async used(kind: SessionKind, name: string, record: StoredRecord, now: number): Promise<StoredRecord> {
    if (!this.updateTime) return record;
    const expiresAt = Math.min(now + record.timeout, record.createdAt + SESSION_LIMITS.maxTimeout);
    if (expiresAt <= record.expiresAt) return record;
    const refreshed: StoredRecord = { ...record, expiresAt };
    const cacheKey = this.cacheKey(kind, name);
    this.lru.touch(cacheKey, refreshed, expiresAt);
    if (this.gate.mayWrite(cacheKey, now)) {
      try {
        await this.external.write(kind, this.name, name, refreshed, now);
        this.gate.record(cacheKey, now, "put");
      } catch {
        // Logged by the external cache; the session is still valid until its old expiry elsewhere.
      }
    }
    return refreshed;
  }

  /** Runs `fn` after every earlier operation on the same key in this isolate has settled. */
  private async exclusive<T>(kind: SessionKind, name: string, fn: () => Promise<T>): Promise<T> {
    const key = this.cacheKey(kind, name);
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(key, settled);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === settled) this.locks.delete(key);
    }
  }
}

/** The isolate's session store: one ContextStore per context, built on first use. */
export class SessionStore {
  private readonly contexts = new Map<string, ContextStore>();

  constructor(
    private readonly settings: ReadonlyMap<string, ContextSettings>,
    private readonly external: ExternalCache,
    private readonly options: StoreOptions = {},
  ) {}

  context(name: string): ContextStore {
    let store = this.contexts.get(name);
    if (!store) {
      const settings = this.settings.get(name);
      if (!settings) throw new ServiceError("internal_error", `no settings for context ${name}`);
      store = new ContextStore(settings, this.external, this.options);
      this.contexts.set(name, store);
    }
    return store;
  }
}
