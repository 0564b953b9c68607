/**
 * The Cache API of each location: what the service's ring tier
 * (src/keyring/tier.ts, createApp's `ringCache`) reads before KV. On the
 * platform each data center has its own cache, shared by every isolate
 * there and by nobody elsewhere; here each simulated location gets its own
 * workerd cache (caches.open(`fleet-loc-<name>`)), so entries, their bodies
 * and headers are workerd's own.
 *
 * Time is the fleet's: an entry expires at its `max-age` in virtual time.
 * workerd's cache would expire it in real time, which passes at another
 * speed, so the entry is stored there with a long max-age and its virtual
 * expiry is kept here; an entry this fleet did not put is not served (the
 * caches start empty for each fleet, as for each scenario). A response
 * without max-age (or no-store, private) is not stored: no default TTL is
 * modelled. Each match, put or delete costs the location's cache latency
 * (fleet/latency.ts, cache_ms) and is counted.
 */
import type { BindingContext } from "./bindings.js";

/** How the real cache keeps an entry: longer than any run, so that only virtual time expires it. */
const REAL_MAX_AGE_S = 365 * 86_400;

function urlOf(request: RequestInfo | URL): string {
  return typeof request === "string" ? request : request instanceof URL ? request.href : request.url;
}

/** Seconds a response may be cached by its Cache-Control (s-maxage or max-age; none for no-store or private), as the Cache API reads it. */
export function cacheSeconds(cacheControl: string | null): number | undefined {
  if (!cacheControl) return undefined;
  const directives = cacheControl.toLowerCase().split(",").map((d) => d.trim());
  if (directives.some((d) => d === "no-store" || d === "private")) return undefined;
  for (const d of directives) {
    const m = /^(?:s-maxage|max-age)=(\d+)$/.exec(d);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** One cached URL of a location: which stored version is current, until when, and its own Cache-Control. */
interface Entry {
  version: number;
  /** Virtual ms. */
  expiresAt: number;
  cacheControl: string;
  /** The put of this version into workerd's cache. */
  stored: Promise<unknown>;
}

/**
 * Every location's cache. What a match finds is decided at its virtual
 * instant from the entries kept here; the body comes from workerd's cache,
 * where each put is a version of its own (a query parameter on the URL), so
 * that calls at one virtual instant find the same thing in whatever real
 * order they run.
 */
export class LocationCaches {
  private readonly opened = new Map<string, Promise<Cache>>();
  private readonly entries = new Map<string, Map<string, Entry>>();
  private versions = 0;

  /** The workerd cache of `location`, opened once. */
  real(location: string): Promise<Cache> {
    let cache = this.opened.get(location);
    if (!cache) {
      cache = caches.open(`fleet-loc-${location}`);
      this.opened.set(location, cache);
    }
    return cache;
  }

  entriesOf(location: string): Map<string, Entry> {
    let m = this.entries.get(location);
    if (!m) this.entries.set(location, (m = new Map()));
    return m;
  }

  /** Empties every location's cache (a scenario's lost tier). */
  clear(): void {
    for (const m of this.entries.values()) m.clear();
  }

  nextVersion(): number {
    return ++this.versions;
  }
}

const versioned = (url: string, version: number) => `${url}${url.includes("?") ? "&" : "?"}fleet-v=${version}`;

/** The location's cache as one of its isolates sees it: workerd's, on virtual time, with latency and counting. */
export function cacheView(caches: LocationCaches, ctx: BindingContext): Cache {
  const { clock, latency, meter, caller, random, wait } = ctx;
  const location = caller.location;
  const entries = caches.entriesOf(location);
  const record = (op: string, url: string, t: number) => meter.call({ kind: "cache", op, target: new URL(url).pathname, t, ok: true, ...caller });

  const view = {
    async match(request: RequestInfo | URL): Promise<Response | undefined> {
      const url = urlOf(request);
      const t = clock.now;
      const ms = latency.cache(random);
      let entry = entries.get(url);
      if (entry && t >= entry.expiresAt) {
        entries.delete(url);
        entry = undefined;
      }
      let response: Response | undefined;
      if (entry) {
        const { version, cacheControl, stored } = entry;
        const found = await clock.track(
          stored.then(() => caches.real(location)).then((real) => real.match(versioned(url, version))),
          "cache.match",
        );
        if (found) {
          const headers = new Headers(found.headers);
          headers.set("cache-control", cacheControl);
          response = new Response(found.body, { status: found.status, headers });
        }
      }
      await wait(ms);
      record(response ? "match.hit" : "match.miss", url, t);
      return response;
    },
    async put(request: RequestInfo | URL, response: Response): Promise<void> {
      const url = urlOf(request);
      const t = clock.now;
      await wait(latency.cache(random));
      const cacheControl = response.headers.get("cache-control");
      const seconds = cacheSeconds(cacheControl);
      record(seconds ? "put" : "put.uncacheable", url, t);
      if (!seconds) {
        await clock.track(response.arrayBuffer(), "cache.put");
        return;
      }
      const version = caches.nextVersion();
      const headers = new Headers(response.headers);
      headers.set("cache-control", `max-age=${REAL_MAX_AGE_S}`);
      const stored = clock.track(
        caches.real(location).then((real) => real.put(versioned(url, version), new Response(response.body, { status: response.status, headers }))),
        "cache.put",
      );
      entries.set(url, { version, expiresAt: clock.now + seconds * 1000, cacheControl: cacheControl!, stored });
      await stored;
    },
    async delete(request: RequestInfo | URL): Promise<boolean> {
      const url = urlOf(request);
      const t = clock.now;
      const known = entries.delete(url);
      await wait(latency.cache(random));
      record("delete", url, t);
      return known;
    },
  };
  return view as unknown as Cache;
}
