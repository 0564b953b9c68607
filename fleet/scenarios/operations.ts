/**
 * What each operation costs in Durable Object requests, SQLite rows, alarms
 * and KV operations: a warm isolate sends each kind of request a number of
 * times with nothing else running, each kind in its own measured phase, and
 * every binding call in the phase is divided by the number of requests. The
 * figures docs/scale.md prices (issue 17, deliverable 6).
 */
import type { Answer, Fleet, Isolate } from "../fleet.js";
import type { ObjectMeter } from "../objects.js";
import { TLS12_SESSION, type IssuedTicket } from "../workload.js";
import { bootstrap, operator, perform, rotate, type Scenario, type ScenarioContext } from "./common.js";

const REPEAT = 20;
/** Measured after the last request too: work the requests left to run (a take's KV delete after its answer, a purge by alarm). */
const DRAIN_MS = 3000;
/** Past KV's longest propagation delay (fleet/kv.ts). */
const PROPAGATED_MS = 61_000;

interface OperationCost {
  requests: number;
  status: Record<string, number>;
  /** Per request: binding operations (KEY_RING.getRing, REPLAY_GUARD.consume, kv get.hot, kv put...). */
  per_request: Record<string, number>;
  latency_p50_ms: number;
}

function hex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function diffUsage(after: Map<string, ObjectMeter>, before: Map<string, ObjectMeter>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, m] of after) {
    const binding = key.slice(0, key.indexOf(":"));
    const b = before.get(key);
    const add = (name: string, v: number) => v && (out[`${binding} ${name}`] = (out[`${binding} ${name}`] ?? 0) + v);
    // What requests caused: an alarm that happened to run meanwhile (a sweep) is not the operation's.
    add("rows written", m.rowsWritten - m.rowsWrittenByAlarms - (b ? b.rowsWritten - b.rowsWrittenByAlarms : 0));
    add("setAlarm", m.setAlarm - m.setAlarmByAlarms - (b ? b.setAlarm - b.setAlarmByAlarms : 0));
    add("deleteAlarm", m.deleteAlarm - (b?.deleteAlarm ?? 0));
  }
  return out;
}

const copyUsage = (usage: Map<string, ObjectMeter>) => new Map([...usage].map(([k, m]) => [k, { ...m }]));

/**
 * Measures `send` repeated `times` (sequentially, from warm isolates) as the
 * phase `name`, and DRAIN_MS after. Per request: every Durable Object, KV and
 * Cache API call, the objects' own included (the ring's publication, the
 * replay guard's purges), and rows written and alarms set other than by a
 * sweep that happened to run.
 */
async function measureOperation(ctx: ScenarioContext, name: string, times: number, send: (i: number) => Promise<Answer>): Promise<OperationCost> {
  const { fleet } = ctx;
  // A fresh copy of the ring in the operator's isolate first, so no background refresh falls in the phase.
  await perform(fleet, () => fleet.request(operator(fleet), "GET", "/v1/keys", { op: "keys" }));
  const before = copyUsage(fleet.objectUsage());
  const callsBefore = fleet.meter.calls.length;
  const requestsBefore = fleet.meter.requests.length;
  fleet.measure(`op:${name}`);
  await perform(fleet, async () => {
    for (let i = 0; i < times; i++) await send(i);
  });
  await fleet.play(DRAIN_MS);
  fleet.measure(undefined);
  const requests = fleet.meter.requests.slice(requestsBefore);
  const calls = fleet.meter.calls.slice(callsBefore);
  const perRequest: Record<string, number> = {};
  // The location's cache and KV reads of the ring are the isolates' periodic refreshes of the tier (every ~cache_ttl), not the
  // request's (the scenarios' tier figures count them; a rotate's own copy into the cache is free and left out with them).
  for (const c of calls.filter((c) => c.kind !== "cache" && !(c.kind === "kv" && c.target.startsWith("ring:") && c.op.startsWith("get")))) {
    const key = `${c.kind === "do" ? "" : `${c.kind} `}${c.op}${c.ok ? "" : ` ${c.failure}`}`;
    perRequest[key] = (perRequest[key] ?? 0) + 1 / times;
  }
  for (const [k, v] of Object.entries(diffUsage(fleet.objectUsage(), before))) perRequest[k] = v / times;
  const status: Record<string, number> = {};
  for (const r of requests) {
    const label = r.code ? `${r.status} ${r.code}` : String(r.status);
    status[label] = (status[label] ?? 0) + 1;
  }
  const latencies = requests.map((r) => r.latency).sort((a, b) => a - b);
  return { requests: requests.length, status, per_request: perRequest, latency_p50_ms: latencies[Math.floor(latencies.length / 2)] ?? NaN };
}

async function sealMany(ctx: ScenarioContext, isolate: Isolate, n: number, singleUse: boolean): Promise<IssuedTicket[]> {
  const out: IssuedTicket[] = [];
  await perform(ctx.fleet, async () => {
    for (let i = 0; i < n; i++) {
      const t = await ctx.workload.seal(isolate, singleUse);
      if (t) out.push(t);
    }
  });
  return out;
}

function storeSessions(fleet: Fleet, isolate: Isolate, ids: string[]): Promise<unknown> {
  return perform(fleet, async () => {
    for (const id of ids) await fleet.request(isolate, "PUT", `/v1/sessions/${id}`, { body: { session: TLS12_SESSION }, op: "setup" });
    // KV takes one write per second per key: let the next write (a take's or a purge's delete) be accepted.
    await fleet.clock.sleep(1500);
  });
}

export const operations: Scenario = {
  name: "operations",
  description: `Per-operation costs: a warm isolate sends each kind of request ${REPEAT} times with nothing else running; binding calls, rows and alarms per request.`,
  headline: false,
  async run(ctx) {
    const { fleet } = ctx;
    await bootstrap(ctx);
    const a = operator(fleet);
    const sameLocation = fleet.isolatesIn(a.location.name).find((i) => i !== a) ?? a;
    const otherLocation = fleet.isolatesOutside(a.location.region)[0] ?? a;
    const rng = ctx.random.fork("operations");
    const ids = (n: number) => Array.from({ length: n }, () => hex(rng.bytes(32)));
    const costs: Record<string, OperationCost> = {};
    const op = async (name: string, send: (i: number) => Promise<Answer>, times = REPEAT) => {
      costs[name] = await measureOperation(ctx, name, times, send);
    };
    const req = (isolate: Isolate, method: string, path: string, body?: unknown) => fleet.request(isolate, method, path, { body, op: "probe" });

    await op("seal", () => req(a, "POST", "/v1/tickets", { session: TLS12_SESSION }));
    const reusable = await sealMany(ctx, otherLocation, REPEAT, false);
    await op("open", (i) => req(a, "POST", "/v1/tickets/open", { ticket: reusable[i]!.ticket }));
    await op("seal single-use", () => req(a, "POST", "/v1/tickets", { session: TLS12_SESSION, single_use: true }));
    const single = await sealMany(ctx, otherLocation, REPEAT, true);
    await op("open single-use", (i) => req(a, "POST", "/v1/tickets/open", { ticket: single[i]!.ticket }));
    await op("seal with store", () => req(a, "POST", "/v1/tickets", { session: TLS12_SESSION, store: true }));

    const sessionIds = ids(REPEAT);
    await op("session PUT", (i) => req(a, "PUT", `/v1/sessions/${sessionIds[i]}`, { session: TLS12_SESSION }));
    await op("session GET (this isolate)", (i) => req(a, "GET", `/v1/sessions/${sessionIds[i]}`));
    await op("session GET (same location)", (i) => req(sameLocation, "GET", `/v1/sessions/${sessionIds[i]}`));
    await fleet.play(PROPAGATED_MS);
    await op("session GET (other location, propagated)", (i) => req(otherLocation, "GET", `/v1/sessions/${sessionIds[i]}`));
    const takeIds = ids(REPEAT);
    await storeSessions(fleet, a, takeIds);
    await op("session take", (i) => req(a, "POST", `/v1/sessions/${takeIds[i]}/take`));
    const deleteIds = ids(REPEAT);
    await storeSessions(fleet, a, deleteIds);
    await op("session DELETE", (i) => req(a, "DELETE", `/v1/sessions/${deleteIds[i]}`));
    await op("client session PUT", (i) => req(a, "PUT", `/v1/client-sessions/origin-${i}.example.net:443`, { session: TLS12_SESSION }));
    await op("client session GET", (i) => req(sameLocation, "GET", `/v1/client-sessions/origin-${i}.example.net:443`));
    await op("GET /v1/keys", () => req(a, "GET", "/v1/keys"));
    await op("export nginx80", () => req(a, "GET", "/v1/keys/export?format=nginx80"));

    // Store fallback: tickets sealed with store: true whose key a revoke then destroyed.
    const stored = await perform(fleet, async () => {
      const out: string[] = [];
      for (let i = 0; i < REPEAT; i++) {
        const answer = await req(otherLocation, "POST", "/v1/tickets", { session: TLS12_SESSION, store: true });
        if (answer.status === 201) out.push(answer.body.ticket);
      }
      await rotate(ctx, true);
      return out;
    });
    // The operator's isolate reads the stored sessions once KV has shown them everywhere.
    await fleet.play(PROPAGATED_MS);
    await op("open via store fallback", (i) => req(a, "POST", "/v1/tickets/open", { ticket: stored[i % stored.length] }));
    // KV takes one publication of the ring a second: rotations a second apart or more, as an operator's are.
    await op(
      "rotate",
      async (i) => {
        if (i > 0) await fleet.clock.sleep(2000);
        return req(a, "POST", "/v1/keys/rotate", {});
      },
      3,
    );
    return { repeat: REPEAT, operations: costs };
  },
};
