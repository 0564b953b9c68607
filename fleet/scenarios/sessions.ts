/**
 * Issue 18's scenario: the session store under KV's real rules. Sessions
 * stored in one location and looked up in another after 1, 10 and 60 s;
 * purges and takes racing the store across locations; client sessions for
 * one origin stored from every isolate at 100 per second.
 */
import type { Fleet, Isolate } from "../fleet.js";
import type { Random } from "../random.js";
import { arrivals, TLS12_SESSION } from "../workload.js";
import { bootstrap, phaseMs, type Scenario, type ScenarioContext } from "./common.js";

const LOOKUP_DELAYS_S = [1, 10, 60] as const;
/** Sessions stored per delay (and per purge and take variant). */
const SAMPLES = 48;
/** Client-session stores per second for one origin, fleet-wide. */
const CLIENT_STORE_RATE = 100;
const ORIGIN = "origin.example.net:443";

function sessionId(rng: Random): string {
  return [...rng.bytes(32)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** An isolate in another location than `isolate`'s. */
function elsewhere(fleet: Fleet, isolate: Isolate, rng: Random): Isolate {
  return rng.pick(fleet.isolates.filter((i) => i.location.name !== isolate.location.name));
}

/** Another isolate of the same location, if it has one. */
function neighbour(fleet: Fleet, isolate: Isolate, rng: Random): Isolate | undefined {
  const others = fleet.isolatesIn(isolate.location.name).filter((i) => i !== isolate);
  return others.length ? rng.pick(others) : undefined;
}

/** Stores a new session under `id`; false (the failure counted) when the store did not answer 201. */
async function put(fleet: Fleet, isolate: Isolate, id: string): Promise<boolean> {
  const stored = await fleet.request(isolate, "PUT", `/v1/sessions/${id}`, { body: { session: TLS12_SESSION }, op: "session_put" });
  if (stored.status === 201) return true;
  fleet.meter.count(`session_put_failed.${stored.code ?? stored.status}`);
  return false;
}

function get(fleet: Fleet, isolate: Isolate, id: string, op = "session_get") {
  return fleet.request(isolate, "GET", `/v1/sessions/${id}`, { op, handshake: true });
}

const rate = (hits: number, n: number) => (n ? hits / n : null);

/**
 * Stores SAMPLES sessions per delay, spread over `spreadMs`, each looked up
 * once, `delay` seconds after its store answered, by an isolate in another
 * location; and once after 1 s by another isolate of the writer's location.
 */
async function resumptionByDelay(ctx: ScenarioContext, label: string): Promise<Record<string, number | null>> {
  const { fleet } = ctx;
  const rng = ctx.random.fork(`resumption:${label}`);
  const hits: Record<string, { hits: number; n: number }> = {};
  const count = (key: string, hit: boolean) => {
    const h = (hits[key] ??= { hits: 0, n: 0 });
    h.n++;
    if (hit) h.hits++;
  };
  const spreadMs = phaseMs(ctx, 30);
  const longest = Math.max(...LOOKUP_DELAYS_S) * 1000;
  await fleet.play(spreadMs + longest + 1000, async () => {
    const jobs: Promise<void>[] = [];
    for (const delay of LOOKUP_DELAYS_S) {
      for (let k = 0; k < SAMPLES; k++) {
        const writer = rng.pick(fleet.isolates);
        const reader = elsewhere(fleet, writer, rng);
        const local = neighbour(fleet, writer, rng);
        const id = sessionId(rng);
        const startAt = fleet.clock.now + rng.uniform(0, spreadMs);
        jobs.push(
          (async () => {
            await fleet.clock.sleepUntil(startAt);
            if (!(await put(fleet, writer, id))) return;
            const storedAt = fleet.clock.now;
            await Promise.all([
              (async () => {
                await fleet.clock.sleepUntil(storedAt + delay * 1000);
                count(`${delay}s`, (await get(fleet, reader, id)).status === 200);
              })(),
              (async () => {
                if (delay !== 1 || !local) return;
                await fleet.clock.sleepUntil(storedAt + 1000);
                count("same_location_1s", (await get(fleet, local, id)).status === 200);
              })(),
            ]);
          })(),
        );
      }
    }
    await Promise.all(jobs);
  });
  return Object.fromEntries(Object.entries(hits).map(([k, v]) => [k, rate(v.hits, v.n)]));
}

/** Seconds after a purge at which its session is looked up again (each sample at one of them only: a lookup fills a location's cache). */
const PURGE_PROBE_DELAYS_S = [2, 10, 30, 61] as const;

/** Locations with at least two isolates: a lookup there by another isolate than the one that acted reads KV, not that isolate's own cache. */
function busyLocations(fleet: Fleet): string[] {
  return fleet.topology.locations.filter((l) => l.isolates >= 2).map((l) => l.name);
}

/**
 * Purges sent as Pike's and OpenSSL's remove callback sends them: 200 ms
 * after the store, by the storing isolate (half the samples) or by an
 * isolate in another location (the other half). Before the purge, 100 ms
 * after the store, an isolate in another location looks the session up (a
 * resumption attempt there). Then, `delay` seconds after the purge, the
 * session is looked up by another isolate of the writer's location, by
 * another isolate of the location that looked it up before, and by an
 * isolate of a location that never did: whatever finds it resumes a purged
 * session. Each sample is looked up at one delay only.
 */
async function purges(ctx: ScenarioContext, label: string) {
  const { fleet } = ctx;
  const rng = ctx.random.fork(`purges:${label}`);
  const out = { purges: 0, purges_refused: 0, answers: {} as Record<string, number> };
  const found: Record<string, Record<string, { found: number; n: number }>> = {};
  const count = (delay: number, where: string, hit: boolean) => {
    const f = ((found[`${delay}s`] ??= {})[where] ??= { found: 0, n: 0 });
    f.n++;
    if (hit) f.found++;
  };
  const busy = busyLocations(fleet);
  const pickIn = (location: string, not?: Isolate) => rng.pick(fleet.isolatesIn(location).filter((i) => i !== not));
  const spreadMs = phaseMs(ctx, 30);
  const longest = Math.max(...PURGE_PROBE_DELAYS_S) * 1000;
  await fleet.play(spreadMs + longest + 5000, async () => {
    const jobs: Promise<void>[] = [];
    for (const delay of PURGE_PROBE_DELAYS_S) {
      for (let k = 0; k < SAMPLES; k++) {
        const writerLocation = rng.pick(busy);
        const writer = pickIn(writerLocation);
        const readLocation = rng.pick(busy.filter((l) => l !== writerLocation));
        const earlyReader = pickIn(readLocation);
        const purger = k % 2 === 0 ? writer : elsewhere(fleet, writer, rng);
        const probes = {
          writer_location: pickIn(writerLocation, writer),
          read_before: pickIn(readLocation, earlyReader),
          elsewhere: rng.pick(fleet.isolates.filter((i) => i.location.name !== writerLocation && i.location.name !== readLocation)),
        };
        const id = sessionId(rng);
        const startAt = fleet.clock.now + rng.uniform(0, spreadMs);
        jobs.push(
          (async () => {
            await fleet.clock.sleepUntil(startAt);
            if (!(await put(fleet, writer, id))) return;
            const storedAt = fleet.clock.now;
            await fleet.clock.sleepUntil(storedAt + 100);
            await get(fleet, earlyReader, id, "session_get_before_purge");
            await fleet.clock.sleepUntil(storedAt + 200);
            const purge = await fleet.request(purger, "DELETE", `/v1/sessions/${id}`, { op: purger === writer ? "purge_same_isolate" : "purge_other_location" });
            out.purges++;
            const answer = purge.code ? `${purge.status} ${purge.code}` : String(purge.status);
            out.answers[answer] = (out.answers[answer] ?? 0) + 1;
            if (purge.status !== 204 && purge.status !== 202) {
              out.purges_refused++;
              fleet.meter.count(`purge_refused.${purge.code ?? purge.status}`);
            }
            const purgedAt = fleet.clock.now;
            await fleet.clock.sleepUntil(purgedAt + delay * 1000);
            await Promise.all(
              Object.entries(probes).map(async ([where, isolate]) => count(delay, where, (await get(fleet, isolate, id, "session_get_after_purge")).status === 200)),
            );
          })(),
        );
      }
    }
    await Promise.all(jobs);
  });
  const share = Object.fromEntries(
    Object.entries(found).map(([delay, byWhere]) => [delay, Object.fromEntries(Object.entries(byWhere).map(([where, f]) => [where, rate(f.found, f.n)]))]),
  );
  return { ...out, purged_sessions_found: share };
}

/**
 * Takes racing: half a second after a store, three isolates (the writer, and
 * one in each of two other locations) take the session at once. Exactly one
 * may get it; a take the guard granted but whose answer failed loses the
 * session for everyone.
 */
async function takes(ctx: ScenarioContext): Promise<Record<string, number>> {
  const { fleet } = ctx;
  const rng = ctx.random.fork("takes");
  const out = { sessions: 0, taken_once: 0, taken_twice_or_more: 0, taken_by_nobody: 0, takes: 0, takes_5xx: 0 };
  const spreadMs = phaseMs(ctx, 30);
  await fleet.play(spreadMs + 5000, async () => {
    await Promise.all(
      Array.from({ length: SAMPLES }, async () => {
        const writer = rng.pick(fleet.isolates);
        const first = elsewhere(fleet, writer, rng);
        const others = fleet.isolates.filter((i) => i.location.name !== writer.location.name && i.location.name !== first.location.name);
        const takers = [writer, first, ...(others.length ? [rng.pick(others)] : [])];
        const id = sessionId(rng);
        await fleet.clock.sleep(rng.uniform(0, spreadMs));
        if (!(await put(fleet, writer, id))) return;
        await fleet.clock.sleep(500);
        const answers = await Promise.all(takers.map((i) => fleet.request(i, "POST", `/v1/sessions/${id}/take`, { op: "session_take", handshake: true })));
        out.sessions++;
        out.takes += answers.length;
        out.takes_5xx += answers.filter((a) => a.status >= 500).length;
        const won = answers.filter((a) => a.status === 200).length;
        if (won === 1) out.taken_once++;
        else if (won > 1) out.taken_twice_or_more++;
        else out.taken_by_nobody++;
      }),
    );
  });
  return out;
}

/** Client sessions for one origin, stored from every isolate at CLIENT_STORE_RATE per second fleet-wide for 10 s. */
async function clientSessions(ctx: ScenarioContext): Promise<Record<string, number>> {
  const { fleet } = ctx;
  const out = { stores: 0, refused: 0 };
  await fleet.play(
    phaseMs(ctx, 10),
    arrivals(
      fleet,
      CLIENT_STORE_RATE / fleet.isolates.length,
      async (isolate) => {
        const answer = await fleet.request(isolate, "PUT", `/v1/client-sessions/${ORIGIN}`, { body: { session: TLS12_SESSION }, op: "client_session_put" });
        out.stores++;
        if (answer.status !== 201) {
          out.refused++;
          fleet.meter.count(`client_session_refused.${answer.code ?? answer.status}`);
        }
      },
      { label: "client-sessions" },
    ),
  );
  return out;
}

export const sessions: Scenario = {
  name: "sessions",
  description: `Session store under KV's rules: ${SAMPLES} sessions per delay stored in one location and looked up in another after ${LOOKUP_DELAYS_S.join(", ")} s; purges in the second of the store (same isolate, other location), the purged session looked up ${PURGE_PROBE_DELAYS_S.join(", ")} s later in the writer's location, where it was read before, and elsewhere (both with KV's propagation as modelled, then with no propagation delay at all: only location caches); three takes racing from three locations; client sessions for one origin at ${CLIENT_STORE_RATE}/s from every isolate.`,
  headline: true,
  async run(ctx) {
    const { fleet } = ctx;
    await bootstrap(ctx);
    fleet.measure("sessions");
    const resumption = await resumptionByDelay(ctx, "modelled");
    const purge = await purges(ctx, "modelled");
    const take = await takes(ctx);
    const client = await clientSessions(ctx);
    // The bracket: KV with no propagation delay, only each location's cache of what it read.
    const delays = new Map(fleet.kvDelays);
    for (const location of fleet.kvDelays.keys()) fleet.kvDelays.set(location, 0);
    const cacheOnly = await resumptionByDelay(ctx, "cache-only");
    const purgeCacheOnly = await purges(ctx, "cache-only");
    for (const [location, ms] of delays) fleet.kvDelays.set(location, ms);
    return {
      kv_propagation_ms: Object.fromEntries(delays),
      resumption_hit_rate: resumption,
      resumption_hit_rate_without_propagation_delay: cacheOnly,
      purges: { ...purge, purges_refused: purge.purges_refused + purgeCacheOnly.purges_refused },
      purges_without_propagation_delay: purgeCacheOnly,
      takes: take,
      client_sessions: { origin: ORIGIN, rate_per_s: CLIENT_STORE_RATE, ...client },
    };
  },
};
