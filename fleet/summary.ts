/**
 * The figures of one scenario, from what the meter recorded: load on the
 * ring object and on each replay-guard shard (per isolate-hour, per second,
 * scaled to larger fleets), latency of each kind of request (cold isolates
 * included, and apart), the share of handshake-path calls answered within a
 * terminator's deadline, judged outcomes (failed valid opens...), and every
 * Durable Object and KV operation by type. Plain JSON: the Node side prints it.
 */
import type { Fleet } from "./fleet.js";
import { OBJECT_CALLER, type BindingRecord, type RequestRecord } from "./meter.js";
import { scaleLoad, type ScaledLoad } from "./scale.js";

/** A terminator gives each call about this long before it falls back to a full handshake. */
export const HANDSHAKE_DEADLINE_MS = 100;

export interface LatencySummary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** Requests that started before their isolate had answered anything. */
  cold_n: number;
  cold_p99: number | null;
}

export interface TargetLoad {
  requests: number;
  failed: number;
  per_isolate_hour: number;
  /** The most calls one isolate made in one second (retries without backoff show here). */
  max_per_isolate_second: number;
  scaled: ScaledLoad;
}

export interface ScenarioSummary {
  name: string;
  description: string;
  phases: { name: string; seconds: number }[];
  fleet: { regions: number; locations: number; isolates: number; isolate_restarts: number };
  requests: Record<string, { n: number; status: Record<string, number> }>;
  latency_ms: Record<string, LatencySummary>;
  /**
   * Requests that use a ticket (or session) issued in a known region, by
   * whether the caller is in that region (its replay-guard shard is near) or
   * in another (a cross-region round trip for single use).
   */
  latency_by_issue_region: Record<string, { same_region: LatencySummary; other_region: LatencySummary }>;
  handshake: { n: number; within_deadline: number; share_within_deadline: number | null; deadline_ms: number };
  ring: TargetLoad & {
    region: string | undefined;
    by_op: Record<string, number>;
    /** Calls the operator made (rotate): in by_op and calls, not in the load figures (requests, per isolate-hour, scaled). */
    operator_calls: number;
    /** Every call (up to RING_CALLS_LISTED): when (seconds into the measured time, its phase), from which isolate and location, and how it went. */
    calls: { s: number; phase: string; isolate: number; location: string; op: string; ok: boolean }[];
  };
  shards: {
    used: number;
    requests: { min: number; median: number; max: number; total: number };
    busiest: ({ name: string; region: string | undefined } & TargetLoad) | undefined;
    regions: Record<string, number>;
    /** Regional shards placed outside the region their name says (their location hint not followed): none expected. */
    misplaced: string[];
  };
  durable_objects: {
    requests: Record<string, number>;
    failed: Record<string, number>;
    /**
     * From the metered classes of the simulator Worker; null when the bound
     * classes are not metered. `starts` counts instances constructed, which
     * includes workerd evicting an idle instance (real time runs slower than
     * virtual time here), so it is no platform figure.
     */
    storage: Record<string, StorageSummary> | null;
  };
  kv: { operations: Record<string, number>; refused: Record<string, number>; by_objects: Record<string, number> };
  /** The locations' Cache API (the ring's read tier): match.hit, match.miss, put. */
  cache: { operations: Record<string, number> };
  /**
   * The isolates' reads of the ring's tier (their location's cache, then KV
   * when it misses), with the fleet-size scaling of each: what the read path
   * costs instead of the ring object.
   */
  tier: { cache_reads: TierReads; kv_reads: TierReads };
  outcomes: Record<string, number>;
  extra: Record<string, unknown>;
}

export interface TierReads {
  n: number;
  per_isolate_hour: number;
  fit: ScaledLoad["fit"];
  mean_rps: ScaledLoad["mean_rps"];
}

export interface StorageSummary {
  objects: number;
  rows_written: number;
  /** Key-value storage backend (the key vault): keys written, read, deleted. */
  keys_written: number;
  keys_read: number;
  keys_deleted: number;
  set_alarm: number;
  delete_alarm: number;
  alarms_run: number;
  rows_written_by_alarms: number;
  set_alarm_by_alarms: number;
  starts: number;
}

/** Ring object methods only the operator's requests call (POST /v1/keys/rotate). */
const OPERATOR_RING_OPS = new Set(["KEY_RING.rotate"]);

/** Ring object calls listed one by one in a summary, at most. */
const RING_CALLS_LISTED = 400;

/** Seconds into the measured time (phases laid end to end) of virtual instant `t`. */
function measuredSeconds(spans: readonly { from: number; to: number }[], t: number): number {
  let offset = 0;
  for (const span of spans) {
    if (t >= span.from && t < span.to) return Math.round((offset + t - span.from) / 100) / 10;
    offset += span.to - span.from;
  }
  return Math.round(offset / 100) / 10;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

function latencyOf(records: readonly RequestRecord[]): LatencySummary {
  const all = records.map((r) => r.latency).sort((a, b) => a - b);
  const cold = records.filter((r) => r.cold).map((r) => r.latency).sort((a, b) => a - b);
  return {
    n: all.length,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    max: all[all.length - 1] ?? NaN,
    cold_n: cold.length,
    cold_p99: cold.length ? percentile(cold, 99) : null,
  };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(item);
  }
  return out;
}

function targetLoad(calls: readonly BindingRecord[], fleet: Fleet, mixFrom?: readonly BindingRecord[]): TargetLoad {
  const seconds = fleet.meter.spans.reduce((s, p) => s + (p.to - p.from) / 1000, 0);
  const isolatesPer = new Map(fleet.topology.locations.map((l) => [l.name, l.isolates]));
  let maxPerIsolateSecond = 0;
  for (const group of groupBy(calls, (c) => `${c.isolate}:${Math.floor(c.t / 1000)}`).values()) {
    maxPerIsolateSecond = Math.max(maxPerIsolateSecond, group.length);
  }
  const isolateHours = (fleet.isolates.length * seconds) / 3600;
  return {
    requests: calls.length,
    failed: calls.filter((c) => !c.ok).length,
    per_isolate_hour: isolateHours > 0 ? calls.length / isolateHours : 0,
    max_per_isolate_second: maxPerIsolateSecond,
    scaled: scaleLoad(calls, isolatesPer, fleet.meter.spans, { mixFrom }),
  };
}

export interface SummaryInput {
  name: string;
  description: string;
  fleet: Fleet;
  extra?: Record<string, unknown>;
}

export function summarize({ name, description, fleet, extra = {} }: SummaryInput): ScenarioSummary {
  const { meter, ringName } = fleet;
  const phases: { name: string; seconds: number }[] = [];
  for (const span of meter.spans) {
    const last = phases[phases.length - 1];
    if (last?.name === span.phase) last.seconds += (span.to - span.from) / 1000;
    else phases.push({ name: span.phase, seconds: (span.to - span.from) / 1000 });
  }

  const requests: ScenarioSummary["requests"] = {};
  for (const [op, list] of groupBy(meter.requests, (r) => r.op)) {
    requests[op] = { n: list.length, status: countBy(list, (r) => (r.code ? `${r.status} ${r.code}` : String(r.status))) };
  }
  const latency_ms: Record<string, LatencySummary> = {};
  for (const [op, list] of groupBy(meter.requests, (r) => r.op)) latency_ms[op] = latencyOf(list);

  const latency_by_issue_region: ScenarioSummary["latency_by_issue_region"] = {};
  for (const [op, list] of groupBy(meter.requests.filter((r) => r.issuedIn !== undefined), (r) => r.op)) {
    latency_by_issue_region[op] = {
      same_region: latencyOf(list.filter((r) => r.issuedIn === r.region)),
      other_region: latencyOf(list.filter((r) => r.issuedIn !== r.region)),
    };
  }

  const handshake = meter.requests.filter((r) => r.handshake);
  const within = handshake.filter((r) => r.latency <= HANDSHAKE_DEADLINE_MS).length;

  const doCalls = meter.calls.filter((c) => c.kind === "do");
  const ringCalls = doCalls.filter((c) => c.op.startsWith("KEY_RING.") && c.target === ringName);
  // The operator's own calls (a rotation, a revoke) are one each whatever the fleet's size: counted, not scaled with isolates.
  const operatorCalls = ringCalls.filter((c) => OPERATOR_RING_OPS.has(c.op));
  const readCalls = ringCalls.filter((c) => !OPERATOR_RING_OPS.has(c.op));
  const shardCalls = doCalls.filter((c) => c.op.startsWith("REPLAY_GUARD."));
  const perShard = groupBy(shardCalls, (c) => c.target);
  const shardCounts = [...perShard.values()].map((l) => l.length).sort((a, b) => a - b);
  const busiest = [...perShard].sort((a, b) => b[1].length - a[1].length)[0];

  const kvCalls = meter.calls.filter((c) => c.kind === "kv");
  const tierKey = `ring:${ringName}:v1`;
  const tierReads = (calls: readonly BindingRecord[]): TierReads => {
    const load = targetLoad(calls, fleet);
    return { n: calls.length, per_isolate_hour: load.per_isolate_hour, fit: load.scaled.fit, mean_rps: load.scaled.mean_rps };
  };
  const usage = fleet.objectUsage();
  let storage: ScenarioSummary["durable_objects"]["storage"] = null;
  if (usage.size > 0) {
    storage = {};
    for (const [key, m] of usage) {
      const binding = key.slice(0, key.indexOf(":"));
      const s = (storage[binding] ??= {
        objects: 0, rows_written: 0, keys_written: 0, keys_read: 0, keys_deleted: 0,
        set_alarm: 0, delete_alarm: 0, alarms_run: 0, rows_written_by_alarms: 0, set_alarm_by_alarms: 0, starts: 0,
      });
      s.objects++;
      s.rows_written += m.rowsWritten;
      s.keys_written += m.keysWritten;
      s.keys_read += m.keysRead;
      s.keys_deleted += m.keysDeleted;
      s.set_alarm += m.setAlarm;
      s.delete_alarm += m.deleteAlarm;
      s.alarms_run += m.alarmsRun;
      s.rows_written_by_alarms += m.rowsWrittenByAlarms;
      s.set_alarm_by_alarms += m.setAlarmByAlarms;
      s.starts += m.starts;
    }
  }

  return {
    name,
    description,
    phases,
    fleet: {
      regions: fleet.topology.regions.length,
      locations: fleet.topology.locations.length,
      isolates: fleet.isolates.length,
      isolate_restarts: meter.tally.isolate_restarts ?? 0,
    },
    requests,
    latency_ms,
    latency_by_issue_region,
    handshake: {
      n: handshake.length,
      within_deadline: within,
      share_within_deadline: handshake.length ? within / handshake.length : null,
      deadline_ms: HANDSHAKE_DEADLINE_MS,
    },
    ring: {
      ...targetLoad(readCalls, fleet),
      operator_calls: operatorCalls.length,
      region: fleet.placement.regionOf(fleet.ringKey),
      by_op: countBy(ringCalls, (c) => c.op),
      calls: ringCalls.slice(0, RING_CALLS_LISTED).map((c) => ({ s: measuredSeconds(meter.spans, c.t), phase: c.phase, isolate: c.isolate, location: c.location, op: c.op, ok: c.ok })),
    },
    shards: {
      used: perShard.size,
      requests: {
        min: shardCounts[0] ?? 0,
        median: shardCounts.length ? percentile(shardCounts, 50) : 0,
        max: shardCounts[shardCounts.length - 1] ?? 0,
        total: shardCalls.length,
      },
      busiest: busiest && {
        name: busiest[0],
        region: fleet.placement.regionOf(`REPLAY_GUARD:${busiest[0]}`),
        // One shard's calls are few: the mix of per-isolate and per-location load is fitted on all shards'.
        ...targetLoad(busiest[1], fleet, shardCalls),
      },
      regions: countBy(
        fleet.placement.entries().filter(([key]) => key.startsWith("REPLAY_GUARD:")),
        ([, region]) => region,
      ),
      misplaced: fleet.placement
        .entries()
        .filter(([key, region]) => {
          // replay:<region>:<n> belongs in <region>; replay:<n> (no region) anywhere.
          const parts = key.split(":");
          return key.startsWith("REPLAY_GUARD:") && parts.length === 4 && parts[2] !== region;
        })
        .map(([key, region]) => `${key} in ${region}`),
    },
    durable_objects: {
      requests: countBy(doCalls, (c) => c.op),
      failed: countBy(doCalls.filter((c) => !c.ok), (c) => `${c.op} ${c.failure}`),
      storage,
    },
    kv: {
      operations: countBy(kvCalls, (c) => c.op),
      refused: countBy(kvCalls.filter((c) => c.failure === "refused"), (c) => c.op),
      // The objects' own KV writes: the ring's publications, the replay guard's deferred purges.
      by_objects: countBy(kvCalls.filter((c) => c.isolate === OBJECT_CALLER), (c) => `${c.location.slice(0, c.location.indexOf(":"))} ${c.op}${c.ok ? "" : ` ${c.failure}`}`),
    },
    cache: { operations: countBy(meter.calls.filter((c) => c.kind === "cache"), (c) => c.op) },
    tier: {
      cache_reads: tierReads(meter.calls.filter((c) => c.kind === "cache" && c.op.startsWith("match"))),
      kv_reads: tierReads(kvCalls.filter((c) => c.target === tierKey && c.op.startsWith("get"))),
    },
    outcomes: { ...meter.tally },
    extra,
  };
}
