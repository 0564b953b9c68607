/**
 * The fleet simulator's slice of `npm test` (issues 17 and 18): a small fleet
 * (five isolates in three locations, three regions) running the real app
 * over the real Durable Objects (the simulator's metered classes: this
 * project's main is fleet/worker.ts), each location with its own Cache API,
 * on virtual time. It asserts correctness only, never a timing: no valid
 * ticket fails to open across rotations with stale copies of the ring, cold
 * isolates and outages of the ring object are served from the read tier, no
 * replay is accepted, made-up key ids cost neither the object nor the tier
 * anything per request, a failing ring object is retried with backoff.
 *
 * One property issue 17 asks for does not hold: no ticket sealed under a key
 * revoked before the seal began. It is it.fails, asserting exactly the
 * property, so it passes while the violation lasts and fails the day it is
 * fixed: then make it it().
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { FLEET_START_MS } from "../../fleet/fleet.js";
import { SMALL_TOPOLOGY, type Topology } from "../../fleet/latency.js";
import { runScenario, type ScenarioResult } from "../../fleet/run-scenario.js";
import type { Env } from "../../src/env.js";

let runs = 0;

/** Quarter-length phases at 2 requests per second per isolate: a few thousand requests per scenario. */
/**
 * SMALL_TOPOLOGY with its three regions renamed: a fleet of the same shape
 * whose replay-guard shards (named by region) no earlier run has touched.
 */
function elsewhere(regions: [string, string, string]): Topology {
  const renamed = new Map(SMALL_TOPOLOGY.regions.map((r, i) => [r, regions[i]!]));
  return { regions, locations: SMALL_TOPOLOGY.locations.map((l) => ({ ...l, region: renamed.get(l.region)! })) };
}

function run(scenario: string, options: { quietTurns?: number; topology?: Topology } = {}): Promise<ScenarioResult> {
  const n = runs++;
  return runScenario({
    scenario,
    env: env as unknown as Env,
    token: "alpha-all",
    topology: SMALL_TOPOLOGY,
    // Durable Object storage is shared by this file's tests: each run has a
    // ring of its own, and starts a day after the last, so that the replay
    // guard has forgotten the ids of earlier runs (the same seed makes the
    // same ticket nonces and key ids).
    ringName: `fleet:${n}:${scenario}`,
    startMs: FLEET_START_MS + n * 86_400_000,
    settings: { timeScale: 0.25, rate: 2 },
    ...options,
  });
}

const outcome = (r: ScenarioResult, name: string) => r.outcomes[name] ?? 0;

describe("rotation with stale copies of the ring", () => {
  let r: ScenarioResult;
  beforeAll(async () => {
    r = await run("rotation");
  }, 60_000);

  it("opens every valid ticket across a forced and a scheduled rotation", () => {
    expect(outcome(r, "failed_valid_opens")).toBe(0);
    expect(outcome(r, "valid_opens")).toBeGreaterThan(100);
    expect(r.durable_objects.requests["KEY_RING.rotate"]).toBe(1);
  });

  it("opens single-use tickets too, each once", () => {
    expect(r.requests.open_single!.status["200"]).toBeGreaterThan(20);
    expect(outcome(r, "replay_accepted")).toBe(0);
  });

  it("guards each single-use ticket in the region it was issued in, with shards placed by their location hints", () => {
    expect(r.shards.misplaced).toEqual([]);
    expect(Object.keys(r.shards.regions).sort()).toEqual(["apac", "enam", "weur"]);
    expect(r.latency_by_issue_region.open_single!.same_region.n).toBeGreaterThan(0);
  });
});

describe("revoke with stale copies of the ring", () => {
  let r: ScenarioResult;
  beforeAll(async () => {
    r = await run("revoke");
  }, 60_000);

  it("refuses tickets issued before the revoke in the isolates that know of it, and opens the others", () => {
    // Failures other than tickets sealed under the revoked key (below).
    expect(outcome(r, "failed_valid_opens") - outcome(r, "failed_valid_opens.sealed_under_revoked_key")).toBe(0);
    expect(outcome(r, "expected_refusals")).toBeGreaterThan(0);
    expect(outcome(r, "valid_opens")).toBeGreaterThan(50);
  });

  it("reaches KV through the ring object's own publication", () => {
    expect(r.kv.by_objects["KEY_RING put"]).toBeGreaterThanOrEqual(1);
  });

  // An isolate learns of a revoke from the read tier, which shows it within
  // TIER_LAG_SECONDS (KV's 60 s, a location's cache 20 s) plus the isolate's
  // own refresh (up to 1.2 x cache_ttl): until then it seals under the
  // revoked key, and those tickets fail to open where the revoke is known
  // (the key's material is destroyed at once). The fix needs src/keyring
  // (fleet/README.md, "After"), so this stays it.fails.
  it.fails("issue 17: seals no ticket under a key revoked before the seal began (the tier's lag still allows it; make this it() when fixed)", () => {
    expect(outcome(r, "sealed_under_revoked_key")).toBe(0);
  });
});

describe("a flood of made-up key ids", () => {
  let r: ScenarioResult;
  beforeAll(async () => {
    r = await run("made_up_keys");
  }, 60_000);

  it("is refused, costs the ring object nothing and the tier no read per made-up id", () => {
    expect(r.requests.open_made_up!.n).toBeGreaterThan(100);
    expect(outcome(r, "made_up_ticket_opened")).toBe(0);
    // Cold isolates included: the tier holds the ring.
    expect(r.ring.requests).toBe(0);
    const seconds = r.phases.reduce((s, p) => s + p.seconds, 0);
    // Each isolate reads its location's cache once per refresh (at least 0.8 x cache_ttl apart), once when it starts,
    // and for unknown ids at most once per UNKNOWN_ID_INTERVAL (30 s): far below one read per made-up id.
    const tierReads = (r.cache.operations["match.hit"] ?? 0) + (r.cache.operations["match.miss"] ?? 0);
    expect(tierReads).toBeLessThanOrEqual((r.fleet.isolates + r.fleet.isolate_restarts) * (seconds / 24 + seconds / 30 + 2));
    expect(tierReads).toBeLessThan(r.requests.open_made_up!.n / 4);
  });
});

describe("a deploy: every isolate and object restarts at once", () => {
  let r: ScenarioResult;
  beforeAll(async () => {
    r = await run("deploy");
  }, 60_000);

  it("serves cold isolates' first opens from the read tier, without the ring object", () => {
    expect(r.latency_ms.open!.cold_n).toBeGreaterThan(10);
    expect(r.requests.open!.status).toEqual({ "200": r.requests.open!.n });
    expect(r.ring.requests).toBe(0);
    expect(r.cache.operations["match.hit"]).toBeGreaterThan(0);
  });
});

describe("the ring object down for two minutes", () => {
  let r: ScenarioResult;
  beforeAll(async () => {
    r = await run("ring_down");
  }, 60_000);

  it("goes unnoticed: isolates restarted during the outage get the ring from the tier", () => {
    expect(r.extra.isolates_restarted_during_outage).toBeGreaterThan(0);
    expect(r.extra.answered_5xx_during_outage).toBe(0);
    expect(outcome(r, "failed_valid_opens")).toBe(0);
    expect(r.ring.requests).toBe(0);
  });
});

describe("the ring object down for two minutes, with the read tier lost", () => {
  let r: ScenarioResult;
  beforeAll(async () => {
    r = await run("ring_down_tier_lost");
  }, 60_000);

  it("answers 5xx only in isolates that never had a copy of the ring", () => {
    expect(r.ring.failed).toBeGreaterThan(0);
    expect(r.extra.answered_5xx_during_outage).toBe(r.extra.answered_5xx_by_restarted_isolates);
  });

  it("issue 17: retries a failing ring object at most once a second per isolate, backing off", () => {
    expect(r.ring.max_per_isolate_second).toBeLessThanOrEqual(1);
    // Backoff from 1 s doubling, each wait at least half its nominal length: within T seconds at most log2(2T + 1) + 1 attempts.
    const outageS = r.extra.outage_s as number;
    expect(r.extra.most_ring_calls_by_one_isolate_during_outage).toBeGreaterThan(1);
    expect(r.extra.most_ring_calls_by_one_isolate_during_outage).toBeLessThanOrEqual(Math.ceil(Math.log2(2 * outageS + 1)) + 1);
  });
});

describe("replays of one single-use ticket from every location", () => {
  let a: ScenarioResult;
  let b: ScenarioResult;
  beforeAll(async () => {
    // Each in regions of its own: both start from empty shards (one run's expired entries and alarms would change the other's).
    a = await run("replay_flood", { quietTurns: 3, topology: elsewhere(["wnam", "eeur", "oc"]) });
    b = await run("replay_flood", { quietTurns: 10, topology: elsewhere(["sam", "afr", "me"]) });
  }, 60_000);

  it("are all refused, while every single-use ticket opens once", () => {
    expect(a.requests.replay!.n).toBeGreaterThan(100);
    expect(outcome(a, "replay_accepted")).toBe(0);
    expect(a.requests.replay!.status["422 ticket_replayed"]).toBe(a.requests.replay!.n);
    expect(outcome(a, "failed_valid_opens")).toBe(0);
    expect(a.requests.open_single!.status).toEqual({ "200": a.requests.open_single!.n });
  });

  it("give the same figures however long the clock waits for the real code to settle", () => {
    // Same seed, so same workload, nonces and shard placements (in other regions): any difference would be the clock's.
    expect(b.requests).toEqual(a.requests);
    expect(b.latency_ms).toEqual(a.latency_ms);
    expect(b.durable_objects.requests).toEqual(a.durable_objects.requests);
    expect(b.outcomes).toEqual(a.outcomes);
    expect(b.simulation.advances).toBe(a.simulation.advances);
  });
});
