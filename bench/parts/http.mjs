// Part 3 (HTTP) and the session parts of part 4, against the service served
// by Miniflare (workerd) with the real config, loaded by wrk from a second
// process on loopback. Every route is measured in the same runs as the
// trivial route (GET /healthz), the order rotated from run to run.
import { readFileSync } from "node:fs";
import { connectInspector, liveHeapBytes, moduleMap, selfTimes } from "../lib/inspector.mjs";
import { freePort, run, sleep } from "../lib/proc.mjs";
import { median, percentile } from "../lib/stats.mjs";
import { client, serveBenchWorker, serveMiniflare, serveWranglerDev, serviceBundle } from "../lib/serve.mjs";
import { bodyFile, wrk } from "../lib/wrk.mjs";
import { bulkGet, bulkPut, idsFile, probeSessions, putSession, REFERENCE, sessionId } from "./sessions.mjs";

/** A second context whose lookups skip the internal cache (no_internal_lookup): every GET reads KV. */
const KV_CONTEXT = "bench-kv";

async function expectStatus(url, init, status, what) {
  const res = await fetch(url, init);
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${text.slice(0, 300)}`);
  return text ? JSON.parse(text) : undefined;
}

/** The service, with the extra KV-only context when the config accepts it. */
async function startService({ inspectorPort, log }) {
  const withKv = await serveMiniflare({ extraContexts: { [KV_CONTEXT]: { flags: ["no_internal_lookup"] } }, inspectorPort });
  const r = await client(withKv)("GET", "/v1/keys");
  if (r.status === 200) return { server: withKv, kvContext: true };
  log(`  the config refuses a "${KV_CONTEXT}" context with flags ["no_internal_lookup"] (${r.status} ${r.body?.error?.code}): KV-hit lookups not measured`);
  await withKv.stop();
  return { server: await serveMiniflare({ inspectorPort }), kvContext: false, kvReason: `${r.status} ${r.body?.error?.code}: ${r.body?.error?.message}` };
}

export async function httpPart(o) {
  const { runs, durationS, warmS, connections, threads, log } = o;
  const inspectorPort = await freePort();
  const { server, kvContext, kvReason } = await startService({ inspectorPort, log });
  const ladder = await serveBenchWorker("ladder-worker");
  const quietInspector = await freePort();
  const quiet = await serveMiniflare({ consoleLogNoop: true, inspectorPort: quietInspector });
  const result = { server: server.kind, connections, threads, durationS, runs, kvContext, kvReason };
  try {
    const call = client(server);
    const auth = (token = server.token) => ({ authorization: `Bearer ${token}` });
    const json = { "content-type": "application/json" };

    // Setup: the ticket for the open benchmark is sealed once, here.
    const sealed = await expectStatus(`${server.url}/v1/tickets`, { method: "POST", headers: { ...auth(), ...json }, body: JSON.stringify({ session: REFERENCE }) }, 201, "POST /v1/tickets");
    const opened = await expectStatus(`${server.url}/v1/tickets/open`, { method: "POST", headers: { ...auth(), ...json }, body: JSON.stringify({ ticket: sealed.ticket }) }, 200, "POST /v1/tickets/open");
    if (opened.session.server_name !== REFERENCE.server_name) throw new Error("open returned another session");
    result.ticketChars = sealed.ticket.length;

    const routes = [
      { id: "healthz", label: "GET /healthz (trivial route)", url: `${server.url}/healthz`, script: "get", env: {}, request: { method: "GET" } },
      {
        id: "open",
        label: "POST /v1/tickets/open",
        url: `${server.url}/v1/tickets/open`,
        script: "post",
        env: { BENCH_TOKEN: server.token, BENCH_BODY_FILE: bodyFile({ ticket: sealed.ticket }) },
        // The same request as post.lua sends, for the open-loop load below.
        request: { method: "POST", headers: { ...auth(), ...json }, body: JSON.stringify({ ticket: sealed.ticket }) },
      },
      { id: "seal", label: "POST /v1/tickets", url: `${server.url}/v1/tickets`, script: "post", env: { BENCH_TOKEN: server.token, BENCH_BODY_FILE: bodyFile({ session: REFERENCE }) } },
    ];

    // The session routes, when they exist.
    const probe = await probeSessions(call);
    result.sessions = probe;
    if (probe.available) {
      const hitId = sessionId(1, "a1");
      await putSession(call, hitId);
      await expectStatus(`${server.url}/v1/sessions/${hitId}`, { headers: auth() }, 200, "GET /v1/sessions/{id}");
      routes.push({ id: "session-hit", label: "GET /v1/sessions/{id}, internal-cache hit", url: `${server.url}/v1/sessions/${hitId}`, script: "get", env: { BENCH_TOKEN: server.token } });
      // A new session on every request (put-new.lua draws the id): the 409
      // check's lookup, the KV write and the internal cache, never the
      // idempotent re-PUT of a stored one.
      routes.push({
        id: "session-put",
        label: "PUT /v1/sessions/{id}, a new session each request",
        url: `${server.url}/v1/sessions`,
        script: "put-new",
        env: { BENCH_TOKEN: server.token, BENCH_BODY_FILE: bodyFile({ session: REFERENCE, timeout: 3600 }) },
      });
      if (kvContext) {
        const kvToken = server.tokens[KV_CONTEXT];
        const kvId = sessionId(2, "a2");
        await putSession(client(server, kvToken), kvId);
        await expectStatus(`${server.url}/v1/sessions/${kvId}`, { headers: auth(kvToken) }, 200, "GET /v1/sessions/{id} (KV)");
        routes.push({ id: "session-kv", label: `GET /v1/sessions/{id}, KV hit (context with no_internal_lookup)`, url: `${server.url}/v1/sessions/${kvId}`, script: "get", env: { BENCH_TOKEN: kvToken } });
      }
    }

    // Diagnostic: the same worker with its request log (console.log) a no-op.
    const quietTicket = await expectStatus(`${quiet.url}/v1/tickets`, { method: "POST", headers: { authorization: `Bearer ${quiet.token}`, ...json }, body: JSON.stringify({ session: REFERENCE }) }, 201, "no-log: POST /v1/tickets");
    routes.push(
      { id: "nolog-healthz", label: "GET /healthz, console.log a no-op", url: `${quiet.url}/healthz`, script: "get", env: {}, diagnostic: true },
      { id: "nolog-open", label: "POST /v1/tickets/open, console.log a no-op", url: `${quiet.url}/v1/tickets/open`, script: "post", env: { BENCH_TOKEN: quiet.token, BENCH_BODY_FILE: bodyFile({ ticket: quietTicket.ticket }) }, diagnostic: true },
    );

    // The floor: a minimal open worker, in the same runs.
    const lt = await expectStatus(`${ladder.url}/ticket`, {}, 200, "ladder /ticket");
    const ladderBody = bodyFile({ ticket: lt.ticket });
    await expectStatus(`${ladder.url}/r4-full`, { method: "POST", headers: { authorization: `Bearer ${lt.token}`, ...json }, body: JSON.stringify({ ticket: lt.ticket }) }, 200, "ladder /r4-full");
    routes.push({ id: "floor-healthz", label: "floor worker: GET /healthz", url: `${ladder.url}/healthz`, script: "get", env: {}, floor: true });
    for (const [id, label] of [
      ["r1-body", "floor: POST, read + parse JSON"],
      ["r2-auth", "floor: + SHA-256 bearer token"],
      ["r3-open", "floor: + base64url + openTicket"],
      ["r4-full", "floor: + full JSON answer"],
      ["p1-body", "A/B: r1 with the project's readJsonObject"],
      ["p2-auth", "A/B: r2 with the project's readJsonObject + authenticate"],
    ]) {
      routes.push({ id: `floor-${id}`, label, url: `${ladder.url}/${id}`, script: "post", env: { BENCH_TOKEN: lt.token, BENCH_BODY_FILE: ladderBody }, floor: true });
    }

    const load = (route, d) => wrk({ url: route.url, script: route.script, durationS: d, connections, threads, env: route.env });
    if (warmS > 0) {
      log(`  warm-up: ${routes.length} routes × ${warmS} s`);
      for (const route of routes) await load(route, warmS);
    }

    result.routes = routes.map(({ id, label, floor, diagnostic }) => ({ id, label, floor: !!floor, diagnostic: !!diagnostic }));
    result.perRun = Object.fromEntries(routes.map((r) => [r.id, []]));
    for (let r = 0; r < runs; r++) {
      const order = routes.map((_, i) => routes[(i + r) % routes.length]);
      for (const route of order) {
        const m = await load(route, durationS);
        result.perRun[route.id].push(m);
        if (m.errors > 0) log(`  ! ${route.id}: ${m.errors} errors ${JSON.stringify(m.errorDetail)}`);
      }
      log(`  run ${r + 1}/${runs}: ` + ["healthz", "open", "seal"].map((id) => `${id} ${Math.round(result.perRun[id].at(-1).rps)}/s`).join(", "));
    }

    if (o.equalLoad) {
      const openRps = median(result.perRun.open.map((x) => x.rps));
      result.equalLoad = await equalLoad(routes.filter((r) => r.id === "healthz" || r.id === "open"), { ...o.equalLoad, openRps, log });
    }

    // Profiled on the no-log variant: with an inspector attached, every
    // console.log is also serialised to it, which would swamp the profile.
    if (o.profile) {
      const profiled = routes.filter((r) => ["nolog-healthz", "nolog-open"].includes(r.id)).map((r) => ({ ...r, id: r.id.replace("nolog-", "") }));
      result.profile = await profileRoutes(quietInspector, profiled, { durationS, connections, threads, log });
    }

    if (probe.available && o.sessionCounts?.length) {
      result.scaling = await sessionScaling(server, { ...o, inspectorPort });
    }
    result.logLines = server.stdio.lines;
    return result;
  } finally {
    await quiet.stop();
    await ladder.stop();
    await server.stop();
  }
}

/**
 * Latency at equal offered load: healthz and open at the same fixed rate, a
 * fraction of what open sustains, from an open-loop generator
 * (bench/rateload.mjs: latency counts from when a request was due). Both
 * routes share one schedule, taking turns request by request, so every stall
 * of this shared machine lands on both alike and the two p99s differ only by
 * what the routes' own requests cost. Each route's latencies are pooled over
 * the slices; each slice also gives its own ratio, taken within the slice.
 */
async function equalLoad(routes, { fraction, durationS, runs, openRps, log }) {
  const rate = Math.max(50, Math.round(fraction * openRps));
  const out = { rate, fraction, durationS, runs, interleaved: true, routes: {} };
  const pooled = Object.fromEntries(routes.map((r) => [r.id, []]));
  const slices = Object.fromEntries(routes.map((r) => [r.id, []]));
  for (let i = 0; i < runs; i++) {
    // The route that leads the turns alternates from slice to slice.
    const order = i % 2 ? [...routes].reverse() : routes;
    const spec = { targets: order.map((route) => ({ id: route.id, url: route.url, ...route.request })), rate, durationMs: durationS * 1000 };
    const { stdout } = await run(process.execPath, [new URL("../rateload.mjs", import.meta.url).pathname, JSON.stringify(spec)], { timeoutMs: (durationS + 30) * 1000 });
    const x = JSON.parse(stdout.trim().split("\n").pop());
    for (const route of routes) {
      const t = x.targets[route.id];
      if (t.errors || t.unanswered) log(`  ! equal load ${route.id}: ${t.errors} errors, ${t.unanswered} unanswered`);
      pooled[route.id].push(...t.latencyMs);
      slices[route.id].push({ due: t.due, done: t.done, errors: t.errors, unanswered: t.unanswered, p50: percentile(t.latencyMs, 50), p99: percentile(t.latencyMs, 99) });
    }
  }
  for (const route of routes) {
    const xs = pooled[route.id].sort((a, b) => a - b);
    out.routes[route.id] = {
      requests: xs.length,
      p50: percentile(xs, 50),
      p90: percentile(xs, 90),
      p99: percentile(xs, 99),
      p999: percentile(xs, 99.9),
      max: xs.at(-1),
      slices: slices[route.id],
    };
  }
  const [a, b] = routes.map((r) => out.routes[r.id]);
  log(`  equal load, ${rate} req/s each, interleaved: ${routes[0].id} p99 ${a.p99} ms, ${routes[1].id} p99 ${b.p99} ms (pooled over ${runs} slices of ${durationS} s)`);
  return out;
}

/**
 * CPU profiles of the worker isolate (V8 sampling profiler through the
 * inspector) during a wrk run of each route: self time per module and per
 * function, turned into microseconds per request. The profiler slows the
 * worker; these runs are not part of the figures.
 */
async function profileRoutes(port, routes, { durationS, connections, threads, log }) {
  const bundle = readFileSync(await serviceBundle(), "utf8");
  const moduleOf = moduleMap(bundle);
  const insp = await connectInspector(port, "edge-session-resumption");
  const out = {};
  try {
    await insp.send("Profiler.enable");
    await insp.send("Profiler.setSamplingInterval", { interval: 200 });
    for (const route of routes) {
      await insp.send("Profiler.start");
      const m = await wrk({ url: route.url, script: route.script, durationS, connections, threads, env: route.env });
      const { profile } = await insp.send("Profiler.stop");
      const t = selfTimes(profile, moduleOf);
      const perReq = (ms) => (ms * 1000) / m.requests;
      out[route.id] = {
        requests: m.requests,
        rps: m.rps,
        busyUsPerRequest: perReq(t.busy),
        modules: t.modules.slice(0, 25).map((x) => ({ module: x.module, usPerRequest: perReq(x.ms) })),
        functions: t.functions.slice(0, 30).map((x) => ({ name: x.name, where: x.where, usPerRequest: perReq(x.ms) })),
      };
      log(`  profile ${route.id}: ${Math.round(m.rps)}/s under the profiler, ${out[route.id].busyUsPerRequest.toFixed(0)} µs busy per request`);
    }
    await insp.send("Profiler.disable");
  } finally {
    insp.close();
  }
  return out;
}

/**
 * Part 4, sessions: lookups of random ids among N stored sessions (N = 1k,
 * 10k, 100k by default), with the isolate's own counters (GET /v1/stats) to
 * tell internal-cache hits from KV hits; then the internal cache's memory per
 * session, from the isolate's heap (inspector) before and after filling it.
 */
async function sessionScaling(server, { sessionCounts, runs, durationS, connections, threads, memorySessions, inspectorPort, log }) {
  const call = client(server);
  const out = { counts: [], memory: undefined };
  let stored = 0;
  for (const n of sessionCounts) {
    const put = await bulkPut(server, server.token, stored, n, { prefix: "5e" });
    stored = n;
    log(`  stored ${n} sessions (${put.stored} more in ${put.seconds.toFixed(1)} s)`);
    const ids = idsFile(`n${n}`, 0, n, "5e");
    const route = { url: `${server.url}/v1/sessions/`, env: { BENCH_TOKEN: server.token, BENCH_IDS_FILE: ids, BENCH_PATH_PREFIX: "/v1/sessions/", BENCH_IDS_ORDER: "random" } };
    await wrk({ url: route.url, script: "get", durationS: 1, connections, threads, env: route.env });
    const perRun = [];
    for (let r = 0; r < runs; r++) {
      const before = (await call("GET", "/v1/stats")).body;
      const m = await wrk({ url: route.url, script: "get", durationS, connections, threads, env: route.env });
      const after = (await call("GET", "/v1/stats")).body;
      const d = (k) => (after?.[k] ?? NaN) - (before?.[k] ?? NaN);
      perRun.push({ ...m, hits: d("sess_hits"), kvHits: d("sess_cb_hits"), misses: d("sess_misses"), cached: after?.sess_number });
    }
    out.counts.push({ n, perRun });
    log(`  lookups among ${n}: ${Math.round(perRun.at(-1).rps)}/s, ${perRun.at(-1).cached} in the internal cache`);
  }

  // Memory: empty the internal cache, fill it with M sessions by looking them up, compare the heap.
  const m = Math.min(memorySessions, stored);
  const insp = await connectInspector(inspectorPort, "edge-session-resumption");
  try {
    const heap = () => liveHeapBytes(insp);
    const perRun = [];
    for (let r = 0; r < runs; r++) {
      const flushed = await call("POST", "/v1/sessions/flush", { before: 0 });
      if (flushed.status !== 200) throw new Error(`POST /v1/sessions/flush: ${flushed.status} ${JSON.stringify(flushed.body)}`);
      await sleep(200);
      const h0 = await heap();
      const s0 = (await call("GET", "/v1/stats")).body;
      await bulkGet(server, server.token, 0, m, { prefix: "5e" });
      const h1 = await heap();
      const s1 = (await call("GET", "/v1/stats")).body;
      const cached = (s1?.sess_number ?? NaN) - (s0?.sess_number ?? NaN);
      perRun.push({ cached, heapBytesPerSession: (h1 - h0) / cached, accountedBytesPerSession: ((s1?.internal_bytes ?? NaN) - (s0?.internal_bytes ?? NaN)) / cached });
    }
    out.memory = { sessions: m, perRun };
    log(`  memory: ${Math.round(perRun.at(-1).heapBytesPerSession)} heap bytes per cached session`);
  } finally {
    insp.close();
  }
  return out;
}

/**
 * Which local server to benchmark: Miniflare (workerd directly) or
 * `wrangler dev` (its own proxy worker in front of workerd). Both serve the
 * same worker and config; the faster one is used for part 3.
 */
export async function serverChoice({ runs, durationS, connections, threads, log }) {
  const out = {};
  for (const [name, startServer] of [
    ["miniflare", () => serveMiniflare()],
    ["wrangler dev", async () => serveWranglerDev({ port: await freePort() })],
  ]) {
    const server = await startServer();
    try {
      const sealed = await expectStatus(`${server.url}/v1/tickets`, { method: "POST", headers: { authorization: `Bearer ${server.token}`, "content-type": "application/json" }, body: JSON.stringify({ session: REFERENCE }) }, 201, `${name}: POST /v1/tickets`);
      const routes = [
        { id: "healthz", url: `${server.url}/healthz`, script: "get", env: {} },
        { id: "open", url: `${server.url}/v1/tickets/open`, script: "post", env: { BENCH_TOKEN: server.token, BENCH_BODY_FILE: bodyFile({ ticket: sealed.ticket }) } },
      ];
      for (const route of routes) await wrk({ ...route, durationS: 1, connections, threads });
      out[name] = { healthz: [], open: [] };
      for (let r = 0; r < runs; r++) {
        for (const route of routes) out[name][route.id].push(await wrk({ ...route, durationS, connections, threads }));
      }
      log(`  ${name}: healthz ${Math.round(out[name].healthz.at(-1).rps)}/s, open ${Math.round(out[name].open.at(-1).rps)}/s`);
    } finally {
      await server.stop();
    }
  }
  return out;
}
