/**
 * Where things are and what a call costs: the fleet's regions and locations,
 * where each Durable Object instance lives, and the latency of a call to a
 * Durable Object or to KV.
 *
 * A Durable Object without a location hint is created near its first caller
 * and stays there (Cloudflare's Durable Objects docs, "Data location"): the
 * first call to each object from any location places it in that location's
 * region. A call then costs one round trip, same-region or cross-region.
 */
import type { Random } from "./random.js";

export interface LocationSpec {
  name: string;
  region: string;
  /** Isolates serving this location. Locations differ on purpose (fleet/scale.ts fits load against them). */
  isolates: number;
}

export interface Topology {
  regions: string[];
  locations: LocationSpec[];
}

/**
 * Eight locations in three regions, 36 isolates, with different numbers of
 * isolates per location. The first location is where the operator first
 * calls the service: the ring object is created in its region.
 */
export const DEFAULT_TOPOLOGY: Topology = {
  regions: ["enam", "weur", "apac"],
  locations: [
    { name: "iad", region: "enam", isolates: 8 },
    { name: "lhr", region: "weur", isolates: 6 },
    { name: "nrt", region: "apac", isolates: 7 },
    { name: "ord", region: "enam", isolates: 3 },
    { name: "fra", region: "weur", isolates: 2 },
    { name: "sin", region: "apac", isolates: 1 },
    { name: "sjc", region: "enam", isolates: 5 },
    { name: "ams", region: "weur", isolates: 4 },
  ],
};

/** A smaller fleet for the test slice: the same shape, fewer isolates. */
export const SMALL_TOPOLOGY: Topology = {
  regions: ["enam", "weur", "apac"],
  locations: [
    { name: "iad", region: "enam", isolates: 2 },
    { name: "lhr", region: "weur", isolates: 2 },
    { name: "nrt", region: "apac", isolates: 1 },
  ],
};

export interface LatencySettings {
  /** Round trip to a Durable Object in the caller's region. */
  do_same_region_ms: number;
  /** Round trip to a Durable Object in another region. */
  do_cross_region_ms: number;
  /** A KV read served by the location's cache. */
  kv_hot_read_ms: number;
  /** A KV read that misses the location's cache and goes to the central stores. */
  kv_cold_read_ms: number;
  /** A KV write or delete (to the central stores). */
  kv_write_ms: number;
  /** A Cache API match or put in the location (its own data center's cache; no published figure: a few ms, below a hot KV read). */
  cache_ms: number;
  /** Each cost is multiplied by a uniform factor in [1 - jitter, 1 + jitter]. */
  jitter: number;
}

export const DEFAULT_LATENCY: LatencySettings = {
  do_same_region_ms: 20,
  do_cross_region_ms: 200,
  kv_hot_read_ms: 5,
  kv_cold_read_ms: 150,
  kv_write_ms: 150,
  cache_ms: 2,
  jitter: 0.1,
};

/**
 * The cost of each call. Jitter comes from the caller's own random stream
 * (each isolate has one), so that calls of other isolates that happen at the
 * same virtual instant, in whatever real order, do not change it.
 */
export class LatencyModel {
  constructor(readonly settings: LatencySettings) {}

  private jittered(ms: number, rng: Random): number {
    const j = this.settings.jitter;
    return Math.max(0, Math.round(ms * rng.uniform(1 - j, 1 + j)));
  }

  doRoundTrip(callerRegion: string, objectRegion: string, rng: Random): number {
    return this.jittered(callerRegion === objectRegion ? this.settings.do_same_region_ms : this.settings.do_cross_region_ms, rng);
  }

  kvRead(hot: boolean, rng: Random): number {
    return this.jittered(hot ? this.settings.kv_hot_read_ms : this.settings.kv_cold_read_ms, rng);
  }

  kvWrite(rng: Random): number {
    return this.jittered(this.settings.kv_write_ms, rng);
  }

  cache(rng: Random): number {
    return this.jittered(this.settings.cache_ms, rng);
  }
}

/**
 * Where each Durable Object instance lives: the region of its first caller,
 * or the location hint of the stub that first called it (Cloudflare's hints
 * are region names: wnam, enam, weur, apac...; the topology's regions use
 * them), for good: a hint on a later call changes nothing, as on the platform.
 */
export class Placement {
  private readonly regions = new Map<string, string>();

  /** The object's region, placing it now if this is its first call. */
  place(objectKey: string, callerRegion: string, locationHint?: string): string {
    let region = this.regions.get(objectKey);
    if (region === undefined) {
      region = locationHint ?? callerRegion;
      this.regions.set(objectKey, region);
    }
    return region;
  }

  regionOf(objectKey: string): string | undefined {
    return this.regions.get(objectKey);
  }

  entries(): [string, string][] {
    return [...this.regions];
  }
}
