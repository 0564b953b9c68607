/**
 * Issue 17's scenarios: the ticket path under steady load and under each
 * event that changes the ring or stresses it.
 */
import { percentile } from "../summary.js";
import { arrivals, churn, steadyTraffic } from "../workload.js";
import { bootstrap, operator, perform, phaseMs, restartEvery, rotate, skipTo, type Scenario, type ScenarioContext } from "./common.js";

/** Opens answered while their isolate was cold, from isolates in other regions than the ring object's. */
function coldOpensAway(ctx: ScenarioContext, ringRegion: string | undefined) {
  const latencies = ctx.fleet.meter.requests
    .filter((r) => r.op === "open" && r.cold && r.region !== ringRegion)
    .map((r) => r.latency)
    .sort((a, b) => a - b);
  return { n: latencies.length, p50_ms: latencies.length ? percentile(latencies, 50) : null, p99_ms: latencies.length ? percentile(latencies, 99) : null };
}

export const steady: Scenario = {
  name: "steady",
  description: "Steady state: the ticket mix at a constant rate from every isolate for 4 minutes, isolates replaced by cold ones now and then.",
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    await bootstrap(ctx);
    fleet.measure("steady");
    await fleet.play(phaseMs(ctx, 240), steadyTraffic(workload, settings.rate), churn(fleet, settings.isolateLifetimeS));
    return {};
  },
};

/** Opens each new isolate receives the moment it starts, as a busy isolate does. */
const FIRST_CONTACT_OPENS = 5;

export const deploy: Scenario = {
  name: "deploy",
  description: `Deploy: every isolate restarts cold at once (and every object), each receiving ${FIRST_CONTACT_OPENS} opens at once, then the steady mix for 90 s.`,
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    await bootstrap(ctx);
    fleet.measure("deploy");
    await fleet.deploy();
    const firstContact = async () => {
      await Promise.all(
        fleet.isolates.flatMap((isolate) =>
          Array.from({ length: FIRST_CONTACT_OPENS }, async (_, k) => {
            const t = workload.pickReusable(ctx.random.fork(`first-contact:${isolate.id}:${k}`));
            if (t) await workload.open(isolate, t);
          }),
        ),
      );
    };
    await fleet.play(phaseMs(ctx, 90), firstContact, steadyTraffic(workload, settings.rate));
    const ringRegion = fleet.placement.regionOf(fleet.ringKey);
    return { ring_region: ringRegion, cold_opens_away_from_ring: coldOpensAway(ctx, ringRegion) };
  },
};

export const rotation: Scenario = {
  name: "rotation",
  description: "Plain rotation: POST /v1/keys/rotate mid-traffic (the published successor takes over at once), then the successor's own scheduled rotation an hour later; 90 s of traffic around each, the event 30 s in.",
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    const { ringCreatedAt: ringStart } = await bootstrap(ctx);
    // The successor was published with the ring: past prepublish_lead (600 s) it may take over at once.
    await skipTo(ctx, ringStart + 640_000);
    fleet.measure("rotate now");
    let deactivatesAt = 0;
    await fleet.play(phaseMs(ctx, 90), steadyTraffic(workload, settings.rate), async () => {
      await fleet.clock.sleep(phaseMs(ctx, 30));
      const answer = await rotate(ctx, false);
      deactivatesAt = (answer.body.keys as { state: string; deactivates_at: number }[]).find((k) => k.state === "active")!.deactivates_at;
    });
    await skipTo(ctx, deactivatesAt * 1000 - phaseMs(ctx, 30));
    fleet.measure("scheduled rotation");
    await fleet.play(phaseMs(ctx, 90), steadyTraffic(workload, settings.rate));
    return { scheduled_rotation_at: deactivatesAt };
  },
};

export const revoke: Scenario = {
  name: "revoke",
  description: "Revoke: POST /v1/keys/rotate {revoke: true} mid-traffic; every other isolate keeps its copy of the ring until it refreshes. 150 s, the revoke 30 s in.",
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    await bootstrap(ctx);
    fleet.measure("revoke");
    await fleet.play(phaseMs(ctx, 150), steadyTraffic(workload, settings.rate), async () => {
      await fleet.clock.sleep(phaseMs(ctx, 30));
      await rotate(ctx, true);
    });
    // How long after the revoke each location's isolates still sealed under the revoked key, and opened tickets it should have ended.
    return { revoke_lag_s: workload.revokeLag, kv_propagation_ms: Object.fromEntries(fleet.kvDelays) };
  },
};

export const masterKey: Scenario = {
  name: "master_key",
  description: "MASTER_KEY change: a deploy with a new MASTER_KEY mid-traffic (every isolate and object restarts with it; the ring object destroys the keys it can no longer unwrap and starts a new ring). 150 s, the deploy 30 s in.",
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    await bootstrap(ctx);
    fleet.measure("master key change");
    await fleet.play(phaseMs(ctx, 150), steadyTraffic(workload, settings.rate), async () => {
      await fleet.clock.sleep(phaseMs(ctx, 30));
      const at = fleet.clock.now;
      // Every key sealed under so far is gone with the old MASTER_KEY: its tickets' refusal is expected.
      workload.revocations.add(workload.keyIds(), at, at);
      const newKey = [...ctx.random.fork("master-key").bytes(32)].map((b) => b.toString(16).padStart(2, "0")).join("");
      await fleet.deploy({ MASTER_KEY: newKey });
    });
    return {};
  },
};

/**
 * The ring object unreachable for 2 minutes, 30 s into 3 minutes of traffic;
 * 30 s into the outage a quarter of the isolates restart cold. With
 * `tierLost`, the read tier is lost as the outage begins (the ring's KV key
 * gone everywhere, every location's cache emptied), so that isolates without
 * a copy can only ask the object: what its failures cost it.
 */
async function ringOutage(ctx: ScenarioContext, tierLost: boolean) {
  const { fleet, workload, settings } = ctx;
  await bootstrap(ctx);
  fleet.measure(tierLost ? "ring down, tier lost" : "ring down");
  let restarted = new Set<number>();
  const outage = { from: 0, to: 0 };
  await fleet.play(phaseMs(ctx, 180), steadyTraffic(workload, settings.rate), async () => {
    await fleet.clock.sleep(phaseMs(ctx, 30));
    outage.from = fleet.clock.now;
    outage.to = outage.from + phaseMs(ctx, 120);
    fleet.faults.objectDown(fleet.ringKey, outage.from, outage.to);
    if (tierLost) fleet.loseRingTier();
    await fleet.clock.sleep(phaseMs(ctx, 30));
    restarted = new Set(restartEvery(fleet, 4).map((i) => i.id));
  });
  const during = fleet.meter.requests.filter((r) => r.t >= outage.from && r.t < outage.to && r.handshake);
  const failed = during.filter((r) => r.status >= 500);
  const ringCallsByIsolate = new Map<number, number>();
  for (const c of fleet.meter.calls) {
    if (c.kind === "do" && c.op.startsWith("KEY_RING.") && c.t >= outage.from && c.t < outage.to) ringCallsByIsolate.set(c.isolate, (ringCallsByIsolate.get(c.isolate) ?? 0) + 1);
  }
  return {
    outage_s: (outage.to - outage.from) / 1000,
    isolates_restarted_during_outage: restarted.size,
    handshake_requests_during_outage: during.length,
    answered_5xx_during_outage: failed.length,
    answered_5xx_by_restarted_isolates: failed.filter((r) => restarted.has(r.isolate)).length,
    isolates_calling_ring_during_outage: ringCallsByIsolate.size,
    most_ring_calls_by_one_isolate_during_outage: Math.max(0, ...ringCallsByIsolate.values()),
  };
}

export const ringDown: Scenario = {
  name: "ring_down",
  description: "Ring object down for 2 minutes, 30 s into the traffic; 30 s into the outage a quarter of the isolates restart cold. 3 minutes.",
  headline: true,
  run: (ctx) => ringOutage(ctx, false),
};

export const ringDownTierLost: Scenario = {
  name: "ring_down_tier_lost",
  description:
    "A double fault, not a headline: ring_down with the read tier lost as the outage begins (the ring's KV key gone everywhere, every location's cache emptied), so isolates can only ask the failing object: its retries and backoff.",
  headline: false,
  run: (ctx) => ringOutage(ctx, true),
};

export const madeUpKeys: Scenario = {
  name: "made_up_keys",
  description: "A flood of tickets with made-up key ids from every isolate's clients (no token needed at the TLS layer), beside the steady mix; a quarter of the isolates restart cold 30 s in. 90 s.",
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    await bootstrap(ctx);
    fleet.measure("made-up key flood");
    await fleet.play(
      phaseMs(ctx, 90),
      steadyTraffic(workload, settings.rate),
      arrivals(fleet, settings.floodRate, (isolate, rng) => workload.openMadeUp(isolate, rng), { label: "flood" }),
      async () => {
        await fleet.clock.sleep(phaseMs(ctx, 30));
        restartEvery(fleet, 4);
      },
    );
    return {};
  },
};

export const replayFlood: Scenario = {
  name: "replay_flood",
  description: "A flood of replays of one single-use ticket (opened once legitimately) from every isolate, beside the steady mix. 45 s.",
  headline: true,
  async run(ctx) {
    const { fleet, workload, settings } = ctx;
    await bootstrap(ctx);
    const ticket = await perform(fleet, async () => {
      const t = await workload.seal(operator(fleet), true);
      if (!t) throw new Error("could not seal the ticket to replay");
      await workload.open(operator(fleet), t);
      return t;
    });
    fleet.measure("replay flood");
    await fleet.play(
      phaseMs(ctx, 45),
      steadyTraffic(workload, settings.rate),
      arrivals(fleet, settings.floodRate, (isolate) => workload.replay(isolate, ticket), { label: "replays" }),
    );
    return { replayed_ticket_key_id: ticket.keyId };
  },
};
