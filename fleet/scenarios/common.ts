/**
 * What every scenario shares: its settings, the fleet and workload it runs
 * on, the operator's calls, and the warm-up that brings the fleet to a
 * steady state before anything is measured.
 */
import { loadConfig } from "../../src/config.js";
import type { Env } from "../../src/env.js";
import type { Answer, Fleet, Isolate } from "../fleet.js";
import type { Random } from "../random.js";
import { steadyTraffic, type Workload } from "../workload.js";

export interface ScenarioSettings {
  /** Requests per second per isolate in the steady mix. */
  rate: number;
  /** Requests per second per isolate of an attack (made-up key ids, replays). */
  floodRate: number;
  /** Multiplies the length of every measured phase (the test slice runs shorter ones). */
  timeScale: number;
  /** Unmeasured steady traffic before the first measured phase, seconds (isolates start within the ring's cache_ttl of its beginning). */
  warmupS: number;
  /** Requests per second per isolate while the simulation skips ahead to a key event (unmeasured; the skip ends with warmupS at the full rate). */
  keepAliveRate: number;
  /** Mean life of an isolate before the platform replaces it with a cold one, seconds (steady state). */
  isolateLifetimeS: number;
}

export const DEFAULT_SETTINGS: ScenarioSettings = {
  rate: 2,
  floodRate: 3,
  timeScale: 1,
  warmupS: 35,
  keepAliveRate: 1 / 30,
  isolateLifetimeS: 3600,
};

export interface ScenarioContext {
  fleet: Fleet;
  workload: Workload;
  settings: ScenarioSettings;
  random: Random;
}

export interface Scenario {
  name: string;
  description: string;
  /** Counted in the JSON line's fleet-wide figures (the per-operation probe is not: it is one isolate on purpose). */
  headline: boolean;
  /** Runs the scenario; returns its own figures beyond the common ones. */
  run(ctx: ScenarioContext): Promise<Record<string, unknown>>;
}

/** Seconds of a measured phase, scaled. */
export function phaseMs(ctx: ScenarioContext, seconds: number): number {
  return Math.round(seconds * 1000 * ctx.settings.timeScale);
}

/** Runs one script to its end on the fleet's clock (requests in it take their virtual time). */
export async function perform<T>(fleet: Fleet, script: () => Promise<T>): Promise<T> {
  let result: T | undefined;
  await fleet.play(0, async () => {
    result = await script();
  });
  return result as T;
}

/** The operator's isolate: the first location's first isolate. */
export function operator(fleet: Fleet): Isolate {
  return fleet.isolates[0]!;
}

/** POST /v1/keys/rotate from the operator's isolate; the workload learns what a revoke destroyed. */
export async function rotate(ctx: ScenarioContext, revoke: boolean): Promise<Answer> {
  const { fleet, workload } = ctx;
  const requested = fleet.clock.now;
  const answer = await fleet.request(operator(fleet), "POST", "/v1/keys/rotate", { body: { revoke }, op: revoke ? "revoke" : "rotate" });
  if (answer.status !== 200) throw new Error(`rotate answered ${answer.status} ${answer.code}`);
  if (revoke) workload.revocations.add(answer.body.revoked as number[], requested, fleet.clock.now);
  return answer;
}

/**
 * Virtual ms after the ring's creation by which its publication is in every
 * location's KV: KV's propagation (up to 60 s, fleet/kv.ts) plus the 30 s
 * for which a location keeps the absence it read before that (the tier reads
 * with cacheTtl 30, src/keyring/tier.ts), with a margin.
 */
export const TIER_SETTLE_MS = 120_000;

/**
 * The operator's first call creates the ring object (near the operator's
 * location: the ring is placed in its region) and its first publication.
 * Then the fleet runs until that publication is in every location's KV
 * (TIER_SETTLE_MS: light traffic, the last warmupS of it at the full rate):
 * every isolate holds a copy of the ring, tickets from everywhere are in
 * circulation, the replay-guard shards have been placed. Nothing of this is
 * measured. A fleet in a steady state runs on a ring published long ago; the
 * minute or two after a ring's very first publication, when locations whose
 * KV has not shown it yet ask the object, happens once per deployment.
 * Returns when the ring was created (virtual ms).
 */
export async function bootstrap(ctx: ScenarioContext): Promise<{ ringCreatedAt: number }> {
  const { fleet } = ctx;
  const first = await perform(fleet, () => fleet.request(operator(fleet), "GET", "/v1/keys", { op: "keys" }));
  if (first.status !== 200) throw new Error(`the operator's first GET /v1/keys answered ${first.status} ${first.code}`);
  const ringCreatedAt = fleet.clock.now;
  await skipTo(ctx, ringCreatedAt + TIER_SETTLE_MS);
  return { ringCreatedAt };
}

/**
 * The steady mix at the full rate, each isolate joining at a random time
 * within the ring's cache_ttl: isolates of a busy fleet did not all start (or
 * get busy) at once, so their refreshes are not in step. Were they to join
 * together, the ones whose copy had aged past cache_ttl would refresh in the
 * same second and, with no jitter, stay in step ever after.
 */
function busyAgain(ctx: ScenarioContext) {
  const staggerMs = loadConfig(ctx.fleet.vars as Env).keyRing.cache_ttl * 1000;
  return steadyTraffic(ctx.workload, ctx.settings.rate, { staggerMs });
}

/**
 * Skips to virtual time `at`, unmeasured: light traffic, then the last
 * warmupS busy again (busyAgain), so that the isolates' copies of the ring
 * are back in a busy fleet's state (refreshed within cache_ttl, not in step)
 * when measuring resumes.
 */
export async function skipTo(ctx: ScenarioContext, at: number): Promise<void> {
  const { fleet, workload, settings } = ctx;
  fleet.measure(undefined);
  const busyFrom = at - settings.warmupS * 1000;
  if (busyFrom > fleet.clock.now) await fleet.play(busyFrom - fleet.clock.now, steadyTraffic(workload, settings.keepAliveRate));
  if (at > fleet.clock.now) await fleet.play(at - fleet.clock.now, busyAgain(ctx));
}

/** Every `step`-th isolate restarts cold. */
export function restartEvery(fleet: Fleet, step: number): Isolate[] {
  const restarted = fleet.isolates.filter((_, i) => i % step === step - 1);
  for (const isolate of restarted) fleet.start(isolate);
  fleet.meter.count("isolate_restarts", restarted.length);
  return restarted;
}
