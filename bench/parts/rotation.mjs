// Part 5: rotation under load. A bounded seal+open load from a second process
// (bench/loadgen.mjs) while this process forces a rotation every few seconds
// (POST /v1/keys/rotate with the bench token, which has the admin scope).
//
// Two modes:
//  - rotate: plain rotations. Every ticket stays valid (the old key keeps
//    decrypting), so every failed open is a failure. The ring only lets a
//    forced rotation take effect once the successor has been published for
//    prepublish_lead (docs/key-rotation.md), so most calls only schedule the
//    switch; the switches actually seen are reported.
//  - revoke: {"revoke": true}, the compromise path: the switch is immediate
//    and older keys are destroyed. A failed open is excused only when the
//    ticket's key was revoked by a call that started before the open ended.
import { join } from "node:path";
import { ROOT } from "../lib/build.mjs";
import { run, sleep } from "../lib/proc.mjs";
import { client, serveMiniflare } from "../lib/serve.mjs";
import { percentile } from "../lib/stats.mjs";
import { REFERENCE } from "./sessions.mjs";

/**
 * The shortest legal lead: keys known fleet-wide 82 s before they encrypt (the
 * ring's read tier's 80 s + 1.2 × cache_ttl 1 s). The default period (1 h), so
 * that no natural rotation happens during the benchmark: the successor
 * published when the ring is created is ripe for an immediate forced switch
 * once 82 s have passed.
 */
export const ROTATION_SETTINGS = { rotation_period: 3600, prepublish_lead: 82, cache_ttl: 1, peak_seal_rate: 100_000 };

/** Started early (the ring is created at once) so that by part 5 the successor is ripe for an immediate switch. */
export async function startRotationServer() {
  const server = await serveMiniflare({ vars: { KEY_RING_SETTINGS: JSON.stringify(ROTATION_SETTINGS) } });
  const r = await client(server)("POST", "/v1/tickets", { session: REFERENCE });
  if (r.status !== 201) throw new Error(`rotation server: POST /v1/tickets ${r.status} ${JSON.stringify(r.body)}`);
  return { server, startedAt: Date.now() };
}

/**
 * Waits (at most maxWaitS) until the successor has been published for
 * prepublish_lead, so that the first plain rotation switches at once.
 * Returns the seconds waited, or undefined when it would take longer.
 */
async function untilRipe(call, maxWaitS) {
  const ring = await call("GET", "/v1/keys");
  const pending = (ring.body?.keys ?? []).filter((k) => k.state === "pending").sort((a, b) => a.activates_at - b.activates_at)[0];
  if (!pending) return 0;
  const wait = pending.published_at + ROTATION_SETTINGS.prepublish_lead - ring.body.now;
  if (wait <= 0) return 0;
  if (wait > maxWaitS) return undefined;
  await sleep((wait + 1) * 1000);
  return wait + 1;
}

export async function rotationPart({ server, runs, durationS, everyS, connections, revoke, maxRipeWaitS = 0, log }) {
  const call = client(server);
  const perRun = [];
  const waited = revoke ? 0 : await untilRipe(call, maxRipeWaitS);
  if (waited === undefined) log(`  (the successor is not yet ripe: plain rotations will only schedule the switch)`);
  else if (waited > 0) log(`  waited ${waited} s for the successor to be ripe`);
  for (let r = 0; r < runs; r++) {
    // Tickets sealed before the load, opened again throughout it.
    const oldTickets = [];
    for (let i = 0; i < 8; i++) {
      const s = await call("POST", "/v1/tickets", { session: REFERENCE });
      if (s.status !== 201) throw new Error(`POST /v1/tickets ${s.status}`);
      oldTickets.push({ ticket: s.body.ticket, key_id: s.body.key_id });
    }
    const durationMs = durationS * 1000;
    const load = run(process.execPath, [join(ROOT, "bench/loadgen.mjs"), JSON.stringify({ url: server.url, token: server.token, durationMs, connections, oldTickets: revoke ? [] : oldTickets, oldEvery: 4 })], {
      timeoutMs: durationMs + 30_000,
    });
    const rotations = [];
    const t0 = Date.now();
    let loadDone = false;
    load.finally(() => (loadDone = true)).catch(() => {});
    for (let k = 1; !loadDone; k++) {
      const at = t0 + k * everyS * 1000;
      if (at > t0 + durationMs - 500) break;
      while (Date.now() < at && !loadDone) await sleep(Math.min(50, at - Date.now()));
      if (loadDone) break;
      const start = performance.timeOrigin + performance.now();
      const res = await call("POST", "/v1/keys/rotate", revoke ? { revoke: true } : undefined);
      const end = performance.timeOrigin + performance.now();
      rotations.push({ start, end, status: res.status, now: res.body?.now, activates_at: res.body?.activates_at, revoked: res.body?.revoked ?? [], code: res.body?.error?.code });
    }
    const { stdout } = await load;
    const data = JSON.parse(stdout.trim().split("\n").pop());
    const analysis = analyse(data, rotations, revoke);
    perRun.push(analysis);
    log(
      `  ${revoke ? "revoke" : "rotate"} run ${r + 1}/${runs}: ${analysis.requests} requests, ${analysis.rotations} rotations, ` +
        `${analysis.switches.length} key switches seen, ${analysis.failedValidOpens} failed opens of valid tickets`,
    );
  }
  return { perRun, ripeWaitS: waited };
}

/** Failures, switches and latency around them, from the load's records and the rotation calls. */
export function analyse(d, rotations, revoke) {
  const n = d.t.length;
  const OPEN = 1, OLD = 2, SEAL = 0;
  // The switches, as the load saw them: the first seal answered under a new key id.
  const seals = [];
  for (let i = 0; i < n; i++) if (d.kind[i] === SEAL && d.status[i] === 201) seals.push([d.t[i] + d.lat[i], d.keyId[i]]);
  seals.sort((a, b) => a[0] - b[0]);
  const switches = [];
  let current = seals[0]?.[1];
  for (const [t, k] of seals) {
    if (k !== current) {
      switches.push({ t, from: current, to: k });
      current = k;
    }
  }
  const rotationFailures = rotations.filter((r) => r.status !== 200).length;
  // Failed opens. With revoke, a ticket whose key a revoke destroyed is no longer valid.
  const failures = {};
  let failedValidOpens = 0;
  let excused = 0;
  let opens = 0;
  let renewed = 0;
  for (let i = 0; i < n; i++) {
    if (d.kind[i] !== OPEN && d.kind[i] !== OLD) continue;
    opens++;
    if (d.renew[i]) renewed++;
    if (d.status[i] === 200) continue;
    const end = d.t[i] + d.lat[i];
    if (revoke && rotations.some((r) => r.start <= end && r.revoked.includes(d.keyId[i]))) {
      excused++;
      continue;
    }
    failedValidOpens++;
    const code = `${d.status[i]} ${d.code[i] ?? ""}`.trim();
    failures[code] = (failures[code] ?? 0) + 1;
  }
  const failedSeals = d.kind.filter((k, i) => k === SEAL && d.status[i] !== 201).length;
  // Latency in the second after each switch (or rotation call) against the rest, away from any.
  const events = [...switches.map((s) => s.t), ...rotations.map((r) => r.start)];
  const near = (t) => events.some((e) => t >= e - 100 && t < e + 1000);
  const after = (t) => switches.some((s) => t >= s.t - 100 && t < s.t + 1000);
  const lat = { switch: [], quiet: [] };
  let worst;
  for (let i = 0; i < n; i++) {
    if (d.kind[i] === SEAL || d.status[i] === 0) continue;
    if (after(d.t[i])) lat.switch.push(d.lat[i]);
    else if (!near(d.t[i])) lat.quiet.push(d.lat[i]);
    if (!worst || d.lat[i] > worst.lat) worst = { lat: d.lat[i], msAfterLastEvent: Math.min(...events.map((e) => (d.t[i] >= e ? d.t[i] - e : Infinity))) };
  }
  const pct = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? NaN };
  };
  return {
    requests: n,
    seconds: (d.ended - d.started) / 1000,
    opens,
    renewed,
    rotations: rotations.length,
    rotationFailures,
    rotationMs: rotations.map((r) => r.end - r.start),
    scheduled: rotations.filter((r) => r.status === 200 && r.activates_at > r.now).length,
    switches,
    failedValidOpens,
    failures,
    excused,
    failedSeals,
    openLatency: { switch: pct(lat.switch), quiet: pct(lat.quiet) },
    worst,
  };
}
