/**
 * Runs one scenario on a new fleet and summarises it: the entry point the
 * simulator Worker (fleet/worker.ts) and the test slice share.
 */
import type { VirtualClock } from "./clock.js";
import { Fleet, type FleetOptions } from "./fleet.js";
import { installVirtualTimers, seedRandomness, trackRuntime } from "./runtime.js";
import { DEFAULT_SETTINGS, scenarioNamed, type ScenarioSettings } from "./scenarios/index.js";
import { summarize, type ScenarioSummary } from "./summary.js";
import { Workload } from "./workload.js";

/**
 * Runs reuse the Durable Objects' storage they are given: a run in storage an
 * earlier run used needs a ring of its own (ringName) and a later start
 * (startMs), since the same seed makes the same ticket nonces and key ids and
 * the replay guard remembers those of the earlier run until they expire.
 * `npm run fleet` gives each scenario a fresh Miniflare instead.
 */
export interface RunOptions extends FleetOptions {
  scenario: string;
  settings?: Partial<ScenarioSettings>;
  /** setTimeout on virtual time (the simulator Worker: yes; inside the test runner: no, it needs real timers). */
  virtualTimers?: boolean;
}

export interface ScenarioResult extends ScenarioSummary {
  headline: boolean;
  /** What the figures were measured under. */
  /** What the run cost: instants virtual time stopped at, real event-loop turns, timers fired, virtual time simulated. */
  simulation: VirtualClock["stats"] & { virtual_seconds: number };
  model: {
    seed: number;
    settings: ScenarioSettings;
    latency: Fleet["latency"]["settings"];
    kv: Fleet["kv"]["settings"];
    kv_propagation_ms: Record<string, number>;
    topology: Fleet["topology"];
    ring_region: string | undefined;
  };
}

export async function runScenario(options: RunOptions): Promise<ScenarioResult> {
  const scenario = scenarioNamed(options.scenario);
  const settings = { ...DEFAULT_SETTINGS, ...options.settings };
  const fleet = new Fleet(options);
  const startedAt = fleet.clock.now;
  const undoTracking = trackRuntime(fleet.clock);
  const undoRandom = seedRandomness(fleet.random.fork("crypto.getRandomValues"));
  const undoTimers = options.virtualTimers ? installVirtualTimers(fleet.clock) : () => undefined;
  try {
    const workload = new Workload(fleet);
    const extra = await scenario.run({ fleet, workload, settings, random: fleet.random.fork("scenario") });
    fleet.measure(undefined);
    return {
      ...summarize({ name: scenario.name, description: scenario.description, fleet, extra }),
      headline: scenario.headline,
      model: {
        seed: options.seed ?? 1,
        settings,
        latency: fleet.latency.settings,
        kv: fleet.kv.settings,
        kv_propagation_ms: Object.fromEntries(fleet.kvDelays),
        topology: fleet.topology,
        ring_region: fleet.placement.regionOf(fleet.ringKey),
      },
      simulation: { ...fleet.clock.stats, virtual_seconds: (fleet.clock.now - startedAt) / 1000 },
    };
  } finally {
    undoTimers();
    undoRandom();
    undoTracking();
    fleet.close();
  }
}
