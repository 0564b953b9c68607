/**
 * The simulator's own models, apart from the service: KV's propagation,
 * location caches and write limit; the virtual clock; the extrapolation to
 * larger fleets. If these are wrong, every figure of `npm run fleet` is.
 */
import { describe, expect, it } from "vitest";
import { Faults, type BindingContext } from "../../fleet/bindings.js";
import { cacheSeconds, cacheView, LocationCaches } from "../../fleet/cache.js";
import { VirtualClock } from "../../fleet/clock.js";
import { KvModel, KvRateLimitError, spreadDelays } from "../../fleet/kv.js";
import { DEFAULT_LATENCY, LatencyModel, Placement } from "../../fleet/latency.js";
import { Meter } from "../../fleet/meter.js";
import { Random } from "../../fleet/random.js";
import { expectedPerSecond, extrapolate, fitLoad, scaleLoad } from "../../fleet/scale.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);

describe("the KV model", () => {
  const delays = new Map([
    ["a", 0],
    ["b", 10_000],
    ["c", 30_000],
  ]);
  const kv = () => new KvModel({ cache_ttl_s: 60, propagation_max_s: 60, write_interval_ms: 1000 }, (l) => delays.get(l) ?? 0);

  it("shows a write at once where it was made, elsewhere after that location's delay", () => {
    const m = kv();
    m.write("b", "k", bytes("v1"), 0);
    expect(text(m.read("b", "k", 1).value)).toBe("v1");
    expect(m.read("c", "k", 29_999).value).toBeUndefined();
    // c cached its miss at 29.999 s: still a miss until that entry expires, a minute later.
    expect(m.read("c", "k", 30_000)).toEqual({ value: undefined, hot: true });
    expect(text(m.read("c", "k", 90_000).value)).toBe("v1");
  });

  it("caches what a location read, values and absences, for cache_ttl", () => {
    const m = kv();
    expect(m.read("a", "k", 0)).toEqual({ value: undefined, hot: false });
    m.write("b", "k", bytes("v1"), 1000);
    expect(m.read("a", "k", 59_999)).toEqual({ value: undefined, hot: true });
    expect(text(m.read("a", "k", 60_000).value)).toBe("v1");
    m.write("b", "k", bytes("v2"), 61_000);
    expect(text(m.read("a", "k", 62_000).value)).toBe("v1");
  });

  it("refuses a second write to a key within a second, puts and deletes alike", () => {
    const m = kv();
    m.write("a", "k", bytes("v1"), 5000);
    expect(() => m.write("b", "k", undefined, 5999)).toThrow(KvRateLimitError);
    expect(() => m.write("a", "k", bytes("v2"), 5500)).toThrow("429");
    m.write("a", "other", bytes("x"), 5500);
    m.write("a", "k", undefined, 6000);
    expect(m.read("a", "k", 6001).value).toBeUndefined();
  });

  it("expires values at their expirationTtl", () => {
    const m = kv();
    m.write("a", "k", bytes("v"), 0, 60);
    expect(text(m.read("a", "k", 59_999).value)).toBe("v");
    expect(m.read("a", "k", 60_000).value).toBeUndefined();
  });

  it("lands a write made ahead of time (a Durable Object's, whose latency the caller waits out) only when its time comes", () => {
    const m = kv();
    m.write("KEY_RING:ring", "k", bytes("v1"), 1150);
    // Location a sees other locations' writes at once (delay 0), but not before they land.
    expect(m.read("a", "k", 1100, 0).value).toBeUndefined();
    expect(text(m.read("a", "k", 1150, 0).value)).toBe("v1");
  });

  it("spreads propagation delays evenly up to the maximum", () => {
    const d = spreadDelays(["a", "b", "c", "d"], 60, (x) => x);
    expect([...d.values()]).toEqual([7500, 22500, 37500, 52500]);
  });
});

describe("Durable Object placement", () => {
  it("puts an object where its first caller is, or where the first call's location hint says, for good", () => {
    const p = new Placement();
    expect(p.place("KEY_RING:ring", "weur")).toBe("weur");
    expect(p.place("KEY_RING:ring", "apac", "enam")).toBe("weur");
    expect(p.place("REPLAY_GUARD:replay:1", "weur", "apac")).toBe("apac");
    expect(p.regionOf("REPLAY_GUARD:replay:1")).toBe("apac");
  });
});

describe("each location's Cache API", () => {
  const setup = () => {
    const clock = new VirtualClock(1_000_000);
    const caches = new LocationCaches();
    const meter = new Meter();
    meter.phase = "test";
    const view = (location: string, isolate: number) => {
      const ctx: BindingContext = {
        clock,
        latency: new LatencyModel(DEFAULT_LATENCY),
        random: new Random(isolate + 1),
        placement: new Placement(),
        meter,
        faults: new Faults(),
        caller: { isolate, location, region: "enam" },
        wait: () => Promise.resolve(),
      };
      return cacheView(caches, ctx);
    };
    return { clock, view, meter };
  };
  const body = (r: Response | undefined) => r?.text();

  it("reads what Cache-Control allows: max-age or s-maxage, nothing for no-store or private", () => {
    expect(cacheSeconds("max-age=20")).toBe(20);
    expect(cacheSeconds("public, s-maxage=5")).toBe(5);
    expect(cacheSeconds("no-store, max-age=20")).toBeUndefined();
    expect(cacheSeconds("private, max-age=20")).toBeUndefined();
    expect(cacheSeconds(null)).toBeUndefined();
  });

  it("is shared by a location's isolates, kept from other locations, and expires on virtual time", async () => {
    const { clock, view } = setup();
    const url = "https://ring.esr.invalid/test/v1";
    const here = view("iad", 1);
    await here.put(url, new Response("ring", { headers: { "cache-control": "max-age=20" } }));
    clock.now += 19_999;
    const neighbour = view("iad", 2);
    expect(await body(await neighbour.match(url))).toBe("ring");
    expect(await view("lhr", 3).match(url)).toBeUndefined();
    clock.now += 1;
    expect(await neighbour.match(url)).toBeUndefined();
    await here.put(url, new Response("no", { headers: { "cache-control": "no-store" } }));
    expect(await here.match(url)).toBeUndefined();
  });
});

describe("the virtual clock", () => {
  it("fires timers in order, waiting for tracked real work between them", async () => {
    const clock = new VirtualClock(1000);
    const seen: string[] = [];
    const slow = () => clock.track(new Promise<void>((r) => setTimeout(r, 20)), "slow");
    const a = (async () => {
      await clock.sleep(50);
      await slow();
      seen.push(`a@${clock.now}`);
    })();
    const b = (async () => {
      await clock.sleep(60);
      seen.push(`b@${clock.now}`);
    })();
    await clock.runUntil(2000);
    await Promise.all([a, b]);
    // a's real 20 ms took no virtual time, and finished before virtual time moved on to b.
    expect(seen).toEqual(["a@1050", "b@1060"]);
    expect(clock.now).toBe(2000);
  });

  it("stops waiting for an object's work once the object is reset", async () => {
    const clock = new VirtualClock(0, { stallLimitMs: 2_000 });
    void clock.track(new Promise(() => undefined), "never settles", "KEY_RING:ring");
    let fired = false;
    clock.schedule(10, () => (fired = true));
    clock.abandon("KEY_RING:ring");
    await clock.runUntil(10);
    expect(fired).toBe(true);
  });

  it("leaves timers past the end for the next run", async () => {
    const clock = new VirtualClock(0);
    let fired = false;
    clock.schedule(500, () => (fired = true));
    await clock.runUntil(499);
    expect(fired).toBe(false);
    await clock.runUntil(500);
    expect(fired).toBe(true);
  });
});

describe("extrapolation to larger fleets", () => {
  it("tells load per isolate from load per location", () => {
    const perIsolate = fitLoad([1, 2, 5, 8].map((i) => ({ isolates: i, count: 3 * i })));
    expect(perIsolate.perIsolate).toBeCloseTo(3);
    expect(perIsolate.perLocation).toBeCloseTo(0);
    const perLocation = fitLoad([1, 2, 5, 8].map((i) => ({ isolates: i, count: 2 })));
    expect(perLocation).toEqual({ perLocation: 2, perIsolate: 0 });
    expect(extrapolate({ perLocation: 2, perIsolate: 0.5 }, 100_000)).toBe(2 * 330 + 50_000);
    expect(extrapolate({ perLocation: 2, perIsolate: 0 }, 100)).toBe(200);
  });

  it("counts a second in which the isolates acted together, not one a few of them happened to share", () => {
    const steady = [1, 0, 2, 1, 3, 0, 1, 1, 2, 0, 1];
    expect(Math.max(...expectedPerSecond(steady))).toBeLessThan(2);
    const burst = [1, 0, 1, 1, 30, 1, 0, 1, 1];
    expect(Math.max(...expectedPerSecond(burst))).toBe(30);
    const small = [0, 0, 4, 0, 0];
    expect(Math.max(...expectedPerSecond(small))).toBeLessThan(4);
    expect(Math.max(...expectedPerSecond(small, [false, false, true, false, false]))).toBe(4);
  });

  it("scales the busiest second by the isolates' share of the load", () => {
    const isolatesPer = new Map([
      ["x", 1],
      ["y", 3],
    ]);
    // Every isolate calls once, in the same second.
    const calls = [{ t: 500, location: "x", isolate: 0 }, ...[1, 2, 3].map((isolate) => ({ t: 700, location: "y", isolate }))];
    const scaled = scaleLoad(calls, isolatesPer, [{ from: 0, to: 10_000 }]);
    expect(scaled.peak_rps["100000"]).toBeCloseTo(100_000);
    expect(scaled.mean_rps["1000"]).toBeCloseTo(100);
  });
});
