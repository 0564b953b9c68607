/**
 * What an isolate builds once from its settings and keeps between requests:
 * the parsed config, the cached key ring and the JWT issuers' key sets.
 * Rebuilt only when the settings change. One instance per app, so tests can
 * simulate separate locations.
 */
import { JwtVerifier, type JwksFetch } from "./auth/jwt.js";
import { loadConfig, type Config } from "./config.js";
import type { Env } from "./env.js";
import { deriveKek, kekFingerprint } from "./keyring/material.js";
import type { KeyRingObject } from "./keyring/object.js";
import { KeyRingReader } from "./keyring/reader.js";
import { ringTier } from "./keyring/tier.js";
import { ReplayGuard } from "./replay/guard.js";
import { regionCode, type Region } from "./replay/regions.js";
import { ExternalCache } from "./store/external.js";
import { kvStorage } from "./store/kv.js";
import { SessionStore } from "./store/session-store.js";
import { TicketCopies } from "./store/ticket-copies.js";

/** Milliseconds since the epoch; injected so tests can move time. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

export interface Services {
  config: Config;
  keyRing: KeyRingReader;
  /** The ring's Durable Object (the one writer). */
  ringObject(): DurableObjectStub<KeyRingObject>;
  /** The fleet-wide single-use record. */
  replayGuard: ReplayGuard;
  /** The session-id store: this isolate's internal caches in front of KV. */
  sessions: SessionStore;
  /** store: true tickets' copies in KV, the store fallback's records. */
  ticketCopies: TicketCopies;
  /** JWT callers' verifier with its key sets (remote ones cached here); undefined when JWT_ISSUERS is not set. */
  jwt: JwtVerifier | undefined;
  /** Unix seconds. */
  now(): number;
  /** Milliseconds, for ticket ages (RFC 8446 counts them in ms). */
  nowMs(): number;
  /**
   * The replay-guard region of this isolate's data center (an isolate never
   * moves): learnt from the first request that says (its `cf`), or given.
   * Undefined until then, and where nothing says (local development).
   */
  region: Region | undefined;
}

export interface ServicesOptions {
  clock: Clock;
  /** Name of the ring's Durable Object; tests use their own to start from an empty ring. */
  ringName?: string;
  jwksFetch?: JwksFetch;
  /** The location's cache for the ring's read tier (caches.default by default). */
  ringCache?: () => Cache | Promise<Cache | undefined> | undefined;
  /** This isolate's region, when the caller knows it (the fleet simulator, tests); else learnt from requests. */
  region?: Region;
}

/** The fleet's one ring object. Tests name their own, to start from an empty ring. */
export const RING_OBJECT_NAME = "ring";

export function ringObject(env: Env, name = RING_OBJECT_NAME): DurableObjectStub<KeyRingObject> {
  return env.KEY_RING.get(env.KEY_RING.idFromName(name));
}

/** The location's cache for the ring's read tier: the platform's default cache where there is one (it is a no-op on *.workers.dev and behind Access). */
export function defaultRingCache(): Cache | undefined {
  // The WebWorker lib's CacheStorage has no `default`; the Workers runtime's has.
  return typeof caches === "undefined" ? undefined : (caches as unknown as { default?: Cache }).default;
}

export function servicesFactory({ clock, ringName = RING_OBJECT_NAME, jwksFetch, ringCache = defaultRingCache, region }: ServicesOptions): (env: Env) => Services {
  let built: { config: Config; services: Services } | undefined;
  return (env) => {
    const config = loadConfig(env);
    if (built?.config !== config) {
      const external = new ExternalCache(kvStorage(env.SESSIONS), config.masterKey);
      const replayGuard = new ReplayGuard(env.REPLAY_GUARD, config.replayShards);
      const services: Services = {
        config,
        keyRing: new KeyRingReader(
          { tier: ringTier(env.SESSIONS, ringName, ringCache()), object: (now) => ringObject(env, ringName).getRing(now) },
          deriveKek(config.masterKey),
          kekFingerprint(config.masterKey),
          config.keyRing.cache_ttl,
        ),
        ringObject: () => ringObject(env, ringName),
        replayGuard,
        // The guard's shards also make the KV deletes an isolate cannot make yet (durably, by alarm), near this isolate.
        sessions: new SessionStore(config.contexts, external, {
          purger: { purgeLater: (key, afterMs) => replayGuard.purgeLater(key, afterMs, services.region) },
          region: () => regionCode(services.region),
        }),
        ticketCopies: new TicketCopies(external),
        jwt: config.jwtIssuers.length
          ? new JwtVerifier(config.jwtIssuers, new Set(config.contextNames), { clock, fetch: jwksFetch, fleetUses: replayGuard })
          : undefined,
        now: () => Math.floor(clock() / 1000),
        nowMs: () => clock(),
        region: built?.services.region ?? region,
      };
      built = { config, services };
    }
    return built.services;
  };
}
