#!/usr/bin/env node
// `npm run bench` (every part, 5 runs each, writes docs/benchmarks.md) and
// `npm run bench:smoke` (tiny counts, checks only that the harness works;
// prints no timing and writes no document). Every process and server it
// starts is stopped on the way out, on failure too; a watchdog bounds the
// whole run.
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, versions } from "./lib/build.mjs";
import { cleanupAll, installExitHandlers, run } from "./lib/proc.mjs";
import { readNotes, renderReport, ringGrowth } from "./lib/report.mjs";
import { median, pairedRatio, summary } from "./lib/stats.mjs";
import { hasWrk, WRK } from "./lib/wrk.mjs";
import { coreInNode, coreInWorkerd } from "./parts/core.mjs";
import { httpPart, serverChoice } from "./parts/http.mjs";
import { opensslTicketOnce, opensslVersion } from "./parts/openssl.mjs";
import { ROTATION_SETTINGS, rotationPart, startRotationServer } from "./parts/rotation.mjs";
import { requestLogPart } from "./parts/request-log.mjs";
import { rpcPart } from "./parts/rpc.mjs";

const smoke = process.argv.includes("--smoke");
const env = (name, fallback) => (process.env[name] ? Number(process.env[name]) : fallback);
const RUNS = smoke ? 1 : env("BENCH_RUNS", 5);
const DURATION = smoke ? 1 : env("BENCH_DURATION", 5);
const CONNECTIONS = env("BENCH_CONNECTIONS", 8);
const THREADS = 1;
const plan = smoke
  ? {
      core: { runs: 1, rounds: 1, targetMs: 2, rings: [2, 8], profileOps: 200, coldRequests: 3 },
      openssl: 1,
      choice: { runs: 1, durationS: 1 },
      http: { runs: 1, durationS: 1, warmS: 0, profile: true, sessionCounts: [20, 50], memorySessions: 20, equalLoad: { fraction: 0.05, durationS: 1, runs: 1 } },
      rotation: { rotate: { runs: 1, durationS: 4, everyS: 1.5 }, revoke: { runs: 1, durationS: 4, everyS: 1.5 } },
      rpc: { runs: 1, rounds: 2, n: 5 },
      requestLog: { runs: 1, n: 50, rounds: 1 },
      watchdogS: 170,
    }
  : {
      core: { runs: RUNS, rounds: 30, targetMs: 30, rings: [2, 8, 32, 128], profileOps: 20_000, coldRequests: 300 },
      openssl: RUNS,
      choice: { runs: RUNS, durationS: 2 },
      http: {
        runs: RUNS,
        durationS: DURATION,
        warmS: 2,
        profile: true,
        sessionCounts: [1_000, 10_000, 100_000],
        memorySessions: 5_000,
        equalLoad: { fraction: 0.15, durationS: 6, runs: 2 * RUNS },
      },
      rotation: { rotate: { runs: RUNS, durationS: 15, everyS: 3, maxRipeWaitS: 65 }, revoke: { runs: RUNS, durationS: 10, everyS: 3 } },
      rpc: { runs: RUNS, rounds: 20, n: 200 },
      requestLog: { runs: RUNS, n: 5000, rounds: 5 },
      watchdogS: 45 * 60,
    };

// The smoke run prints no figure: only the parts' warnings (lines with "!") get through.
const log = smoke ? (m) => String(m).includes("!") && console.log(m) : (...a) => console.log(...a);
const say = (...a) => console.log(...a);
const t0 = Date.now();
const failures = [];
const results = { failures };

async function part(id, name, fn) {
  const start = Date.now();
  say(`\n[bench] part ${id}: ${name}`);
  try {
    const out = await fn();
    say(`[bench] part ${id} done in ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return out;
  } catch (e) {
    say(`[bench] part ${id} FAILED: ${e.stack ?? e}`);
    failures.push({ part: id, error: String(e.message ?? e).split("\n")[0] });
    return undefined;
  }
}

async function machine() {
  const lscpu = (await run("lscpu", [], { allowFail: true, timeoutMs: 10_000 }).catch(() => ({ stdout: "" }))).stdout;
  const field = (k) => new RegExp(`^${k}:\\s*(.+)$`, "m").exec(lscpu)?.[1]?.trim();
  return { model: field("Model name") ?? cpus()[0]?.model, cores: Number(field("CPU\\(s\\)") ?? cpus().length), hypervisor: field("Hypervisor vendor") };
}

async function main() {
  installExitHandlers();
  const watchdog = setTimeout(async () => {
    say(`[bench] watchdog: still running after ${plan.watchdogS} s; stopping everything`);
    await cleanupAll();
    process.exit(2);
  }, plan.watchdogS * 1000);
  watchdog.unref();

  if (!hasWrk()) throw new Error(`wrk not found at ${WRK} (apt-get install -y wrk, or set WRK)`);
  const loads = [];
  const sampler = setInterval(() => loads.push(loadavg()[0]), 5000);
  sampler.unref();
  const info = { ...(await machine()), loadStart: loadavg()[0].toFixed(2) };
  const v = versions();
  v.openssl = await opensslVersion().catch(() => undefined);
  v.wrk = (await run(WRK, ["-v"], { allowFail: true, timeoutMs: 5000 }).catch(() => ({ stdout: "" }))).stdout.split("\n")[0].trim() || undefined;
  say(`[bench] ${smoke ? "smoke" : "full"} run on ${info.model} (${info.cores} cores), load ${info.loadStart}; node ${v.node}, workerd ${v.workerd}, wrangler ${v.wrangler}`);

  // Part 5's worker starts first: its ring is created now, so its successor key is ripe by the time part 5 runs.
  const rotationServer = await part(5, "start the rotation worker", startRotationServer);

  const core = await part("1+4", "core in workerd and Node", async () => {
    const workerd = await coreInWorkerd({ ...plan.core, log });
    const node = await coreInNode({ ...plan.core, profileOps: undefined });
    return { workerd, node, rings: plan.core.rings, profileOps: plan.core.profileOps };
  });
  if (core) results.core = core;

  const ossl = await part(2, "OpenSSL's ticket for a real TLS 1.2 session", async () => {
    const runs = [];
    for (let i = 0; i < plan.openssl; i++) runs.push(await opensslTicketOnce());
    return { runs };
  });
  const codec = core?.workerd?.sizes ?? core?.node?.sizes;
  if (codec) results.sizes = { codec, openssl: ossl, overhead: 33 };

  const choice = await part(3, "server choice: Miniflare or wrangler dev", () => serverChoice({ ...plan.choice, connections: CONNECTIONS, threads: THREADS, log }));
  if (choice) {
    results.choice = choice;
    results.choiceRuns = plan.choice.runs;
    results.choiceDurationS = plan.choice.durationS;
    const rps = (name) => median(choice[name]?.open.map((x) => x.rps) ?? []);
    results.chosen = !(rps("wrangler dev") > rps("miniflare")) ? "Miniflare" : "Miniflare (note: wrangler dev measured faster in this run; the harness serves Miniflare)";
  }

  const http = await part("3+4", "HTTP routes, session scaling, profile", () => httpPart({ ...plan.http, connections: CONNECTIONS, threads: THREADS, log }));
  if (http) results.http = http;

  if (rotationServer) {
    const modes = {};
    for (const mode of ["rotate", "revoke"]) {
      const cfg = plan.rotation[mode];
      const res = await part(5, `rotation under load (${mode})`, () => rotationPart({ server: rotationServer.server, ...cfg, connections: CONNECTIONS, revoke: mode === "revoke", log }));
      if (res) modes[mode] = { ...res, durationS: cfg.durationS };
    }
    await rotationServer.server.stop();
    results.rotation = { settings: ROTATION_SETTINGS, connections: CONNECTIONS, everyS: plan.rotation.rotate.everyS, modes };
  }

  const rpc = await part(6, "another Worker's open: RPC vs HTTP over a Service Binding", () => rpcPart({ ...plan.rpc, log }));
  if (rpc) results.rpc = rpc;

  const requestLog = await part(7, "the request log middleware's cost", () => requestLogPart({ ...plan.requestLog, log }));
  if (requestLog) results.requestLog = requestLog;

  clearInterval(sampler);
  info.loadEnd = loadavg()[0].toFixed(2);
  const loadS = summary(loads);
  info.note = `The machine was shared with other engineers' test runs: the 1-minute load average, sampled every 5 s during the run, was ${loadS.n ? `${loadS.median.toFixed(2)} (median; ${loadS.min.toFixed(2)}–${loadS.max.toFixed(2)})` : "not sampled"} on ${info.cores} cores. Ratios taken within a run (the candidates and routes interleave) are less affected than absolute figures.`;

  results.targets = targets(results);
  results.machine = info;
  results.versions = v;
  results.runs = RUNS;
  results.date = new Date().toISOString().replace("T", " ").replace(/\..*/, " UTC");
  results.seconds = (Date.now() - t0) / 1000;
  results.command = smoke ? "npm run bench:smoke" : "npm run bench";
  results.notes = readNotes(join(ROOT, "bench/notes.md"));

  const doc = renderReport(results);
  if (smoke) {
    writeFileSync(join(tmpdir(), "esr-bench-smoke-results.json"), JSON.stringify(results, null, 1));
    smokeChecks(results);
    say(`\n[bench] smoke: the harness works (every part ran, every self-check passed; the report renders: ${doc.length} characters). No timing is reported.`);
  } else {
    writeFileSync(join(ROOT, "docs/benchmarks.md"), doc);
    writeFileSync(join(ROOT, "bench/.last-results.json"), JSON.stringify(results, null, 1));
    log("\n[bench] targets:");
    for (const t of results.targets) say(`  ${t.verdict.replace(/\*/g, "")}  ${t.name}: ${t.figure}`);
    say(`[bench] wrote docs/benchmarks.md in ${Math.round(results.seconds)} s`);
  }
  if (failures.length) throw new Error(`${failures.length} part(s) failed: ${failures.map((f) => f.part).join(", ")}`);
}

function targets(r) {
  const out = [];
  const f = (x) => summary(x);
  const show = (x, unit = "") => (x.n ? `${x.median.toFixed(2)}${unit} (${x.min.toFixed(2)}–${x.max.toFixed(2)})` : "n/a");
  const add = (name, values, ok, unit = "×") => {
    const x = f(values);
    out.push({ name, figure: show(x, unit), verdict: !x.n ? "not measured" : ok(x.median) ? "**met**" : "**MISSED**" });
  };
  const w = r.core?.workerd;
  if (w) {
    add("1. (b) ≤ 1.25 × (a), workerd", w.core.map((x) => pairedRatio(x, "b", "a")), (m) => m <= 1.25);
    add("1. (b) ≥ 3 × faster than (c), workerd", w.core.map((x) => pairedRatio(x, "c", "b")), (m) => m >= 3);
  }
  const n = r.core?.node;
  if (n) {
    add("1. (b) ≤ 1.25 × (a), Node", n.core.map((x) => pairedRatio(x, "b", "a")), (m) => m <= 1.25);
    add("1. (b) ≥ 3 × faster than (c), Node", n.core.map((x) => pairedRatio(x, "c", "b")), (m) => m >= 3);
  }
  if (r.sizes) {
    const z = r.sizes.codec;
    const others = { jose: z.jose.bytes, iron: z.iron.bytes, "jose short": z.jose_short.bytes, "iron short": z.iron_short.bytes, "jose binary": z.jose_binary.bytes };
    if (r.sizes.openssl) others.openssl = median(r.sizes.openssl.runs.map((x) => x.bytes));
    const smallestOther = Math.min(...Object.values(others));
    out.push({
      name: "2. this project's ticket is the smallest",
      figure: `${z.project.bytes} B vs ${Object.entries(others).map(([k, b]) => `${k} ${b} B`).join(", ")}`,
      verdict: z.project.bytes < smallestOther ? "**met**" : "**MISSED**",
    });
  }
  const h = r.http?.perRun;
  if (h?.open && h.healthz) {
    add("3. open req/s ≥ 0.9 × healthz req/s", h.open.map((x, i) => x.rps / h.healthz[i].rps), (m) => m >= 0.9);
    add("3. open p99 ≤ 1.2 × healthz p99, at saturation (wrk, closed loop)", h.open.map((x, i) => x.p99 / h.healthz[i].p99), (m) => m <= 1.2);
  }
  const e = r.http?.equalLoad;
  if (e) {
    const { healthz, open } = e.routes;
    const perSlice = summary(open.slices.map((x, i) => x.p99 / healthz.slices[i].p99));
    const pooled = open.p99 / healthz.p99;
    out.push({
      name: `3. open p99 ≤ 1.2 × healthz p99, at equal offered load (${e.rate} req/s each, taking turns in one open-loop stream, pooled over ${e.runs} slices)`,
      figure: `${pooled.toFixed(2)}× (${open.p99.toFixed(1)} ms vs ${healthz.p99.toFixed(1)} ms; slice by slice ${perSlice.min.toFixed(2)}–${perSlice.max.toFixed(2)}×)`,
      verdict: pooled <= 1.2 ? "**met**" : "**MISSED**",
    });
  }
  for (const [label, runs] of [["workerd", r.core?.workerd?.ring], ["Node", r.core?.node?.ring]]) {
    if (!runs?.length) continue;
    const g = ringGrowth(r.core.rings, runs);
    const first = `ring${r.core.rings[0]}`;
    const control = median(runs.map((x) => pairedRatio(x, `${first}-control`, first)));
    out.push({
      name: `4. open cost flat within 10% from ${r.core.rings[0]} to ${r.core.rings.at(-1)} keys, ${label} (largest median of N keys ÷ ${r.core.rings[0]} keys)`,
      figure: `${g.toFixed(2)}× (control, ${r.core.rings[0]} keys twice: ${control.toFixed(2)}×)`,
      verdict: g <= 1.1 ? "**met**" : "**MISSED**",
    });
  }
  for (const [mode, res] of Object.entries(r.rotation?.modes ?? {})) {
    const total = res.perRun.reduce((a, x) => a + x.failedValidOpens, 0);
    out.push({ name: `5. failed opens of valid tickets under rotation (${mode})`, figure: `${total} of ${res.perRun.reduce((a, x) => a + x.opens, 0)} opens`, verdict: total === 0 ? "**met**" : "**MISSED**" });
  }
  return out;
}

function smokeChecks(r) {
  const problems = [];
  const finite = (x, what) => Number.isFinite(x) || problems.push(`${what} is not a number`);
  for (const where of ["workerd", "node"]) {
    const c = r.core?.[where];
    if (!c) problems.push(`core ${where}: no result`);
    else for (const id of ["a", "b", "c", "d", "e"]) finite(c.core[0]?.[id], `core ${where} ${id}`);
  }
  if (!r.sizes?.openssl?.runs?.[0]?.bytes) problems.push("no OpenSSL ticket size");
  const h = r.http;
  if (!h) problems.push("http: no result");
  else {
    for (const [id, runs] of Object.entries(h.perRun)) {
      if (!runs.length || !(runs[0].requests > 0)) problems.push(`http ${id}: no requests`);
      if (runs.some((x) => x.errors > 0)) problems.push(`http ${id}: non-2xx answers or socket errors`);
    }
    if (!h.profile?.open?.modules?.length) problems.push("http: no profile");
    for (const id of ["healthz", "open"]) {
      const e = h.equalLoad?.routes?.[id];
      if (!(e?.requests > 0) || !Number.isFinite(e.p99)) problems.push(`http equal load ${id}: no latencies`);
      else if (e.slices.some((x) => x.errors || x.unanswered)) problems.push(`http equal load ${id}: errors or unanswered requests`);
    }
    if (h.sessions?.available && !h.scaling?.memory) problems.push("sessions: no scaling/memory result");
  }
  for (const mode of ["rotate", "revoke"]) {
    const res = r.rotation?.modes?.[mode];
    if (!res?.perRun?.[0]?.requests) problems.push(`rotation ${mode}: no requests recorded`);
  }
  const rpc = r.rpc?.perRun?.[0];
  if (!rpc || !Number.isFinite(rpc.rpc) || !Number.isFinite(rpc.http)) problems.push("rpc: no result");
  const rl = r.requestLog?.perRun?.[0];
  if (!rl || !["bare", "empty", "logged"].every((k) => Number.isFinite(rl[k]))) problems.push("request log: no result");
  if (h?.sessions?.available && !h.perRun["session-put"]?.[0]?.requests) problems.push("http session-put: no requests");
  if (!(r.targets?.length > 0)) problems.push("no targets evaluated");
  if (problems.length) throw new Error(`smoke checks failed:\n  ${problems.join("\n  ")}`);
}

/** `node bench/run.mjs --render`: rewrites docs/benchmarks.md from the last full run's results (e.g. after editing bench/notes.md). */
function renderOnly() {
  const results = JSON.parse(readFileSync(join(ROOT, "bench/.last-results.json"), "utf8"));
  results.targets = targets(results);
  results.notes = readNotes(join(ROOT, "bench/notes.md"));
  writeFileSync(join(ROOT, "docs/benchmarks.md"), renderReport(results));
  say("[bench] rewrote docs/benchmarks.md from bench/.last-results.json");
}

/**
 * `node bench/run.mjs --only rpc`: runs part 6 alone (a minute) and puts its
 * result into bench/.last-results.json, then rewrites docs/benchmarks.md
 * from it: every other figure stays the last full run's.
 */
async function rpcOnly() {
  installExitHandlers();
  const results = JSON.parse(readFileSync(join(ROOT, "bench/.last-results.json"), "utf8"));
  const rpc = await part(6, "another Worker's open: RPC vs HTTP over a Service Binding", () => rpcPart({ ...plan.rpc, log }));
  if (!rpc) throw new Error("part 6 failed");
  results.rpc = { ...rpc, date: new Date().toISOString().replace("T", " ").replace(/\..*/, " UTC"), load: loadavg()[0].toFixed(2), versions: versions() };
  results.failures = (results.failures ?? []).filter((f) => f.part !== 6);
  writeFileSync(join(ROOT, "bench/.last-results.json"), JSON.stringify(results, null, 1));
  renderOnly();
}

/**
 * `node bench/run.mjs --only core`: runs part 1+4 alone (a few minutes) and
 * prints its targets (the paired (b)/(a) ratios, ring growth), to compare a
 * change to src/core before and after. It writes neither docs/benchmarks.md
 * nor bench/.last-results.json (a partial run is not the report's);
 * the raw results go to the system's temporary directory.
 */
async function coreOnly() {
  installExitHandlers();
  const core = await part("1+4", "core in workerd and Node", async () => {
    const workerd = await coreInWorkerd({ ...plan.core, profileOps: 0, coldRequests: 0, log });
    const node = await coreInNode({ ...plan.core, profileOps: undefined });
    return { workerd, node, rings: plan.core.rings };
  });
  if (!core) throw new Error("part 1+4 failed");
  const file = join(tmpdir(), "esr-bench-core-results.json");
  writeFileSync(file, JSON.stringify({ core, load: loadavg()[0].toFixed(2), date: new Date().toISOString() }, null, 1));
  say("\n[bench] core targets:");
  for (const t of targets({ core })) say(`  ${t.verdict.replace(/\*/g, "")}  ${t.name}: ${t.figure}`);
  for (const [where, r] of [["workerd", core.workerd], ["Node", core.node]]) {
    const us = (id) => median(r.parts.map((x) => x[id])).toFixed(2);
    say(`  ${where}, µs per operation (median of runs): a ${us("a")}, b ${us("b")}, b-seal ${us("b-seal")}, b-open ${us("b-open")}, codec ${us("codec")}`);
  }
  say(`[bench] raw results: ${file}; load ${loadavg()[0].toFixed(2)}`);
}

if (process.argv.includes("--render")) {
  renderOnly();
  process.exit(0);
}

const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const onlyParts = { rpc: rpcOnly, core: coreOnly };
if (only !== undefined && !Object.hasOwn(onlyParts, only)) {
  console.error(`[bench] --only takes: ${Object.keys(onlyParts).join(", ")}`);
  process.exit(2);
}

(only === undefined ? main : onlyParts[only])()
  .then(async () => {
    await cleanupAll();
    process.exit(0);
  })
  .catch(async (e) => {
    console.error(`[bench] ${e.stack ?? e}`);
    await cleanupAll();
    process.exit(1);
  });
