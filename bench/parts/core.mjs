// Parts 1, 2 (the codec sizes) and 4 (ring size) at the core level: the
// candidates of bench/core-cases.ts inside workerd (Miniflare, the bench
// worker) and in Node 20 (a child process), interleaved within each run.
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";
import { buildCoreNode, buildCoreWorker, wranglerCompat } from "../lib/build.mjs";
import { connectInspector, moduleMap, selfTimes } from "../lib/inspector.mjs";
import { freePort, onCleanup, run } from "../lib/proc.mjs";
import { median } from "../lib/stats.mjs";

/**
 * Timing in workerd, from outside: the worker runs n operations per request
 * and this side measures the request's wall time with performance.now();
 * the per-request overhead (n = 0 requests, interleaved in the same run) is
 * subtracted and the rest divided by n.
 */
export async function coreInWorkerd({ runs, rounds, targetMs, rings, profileOps = 0, coldRequests = 0, log }) {
  const script = readFileSync(await buildCoreWorker(), "utf8");
  const { compatibilityDate, compatibilityFlags } = await wranglerCompat();
  const inspectorPort = profileOps ? await freePort() : undefined;
  const mf = new Miniflare({ name: "bench-core", modules: true, script, compatibilityDate, compatibilityFlags, ...(inspectorPort ? { inspectorPort } : {}) });
  const dispose = onCleanup(() => mf.dispose());
  try {
    const base = await mf.ready;
    const get = async (path) => {
      const res = await mf.dispatchFetch(new URL(path, base));
      const body = await res.json();
      if (!res.ok) throw new Error(`bench worker ${path}: ${res.status} ${JSON.stringify(body)}`);
      return body;
    };
    const timed = async (c, n) => {
      const t0 = performance.now();
      await get(`/run?c=${c}&n=${n}`);
      return performance.now() - t0;
    };

    const setup = await get(`/setup?rings=${rings.join(",")}`);
    const coreIds = ["a", "b", "c", "d", "e", "f"];
    const partIds = ["a", "b", "b-seal", "b-open", "codec"];
    const ringIds = rings.length ? [...rings.map((n) => `ring${n}`), `ring${rings[0]}-control`] : [];

    // Warm-up: JIT, the crypto paths, the HTTP loopback.
    for (let i = 0; i < 20; i++) await timed("noop", 0);
    for (const id of [...coreIds, ...partIds.slice(2), ...ringIds]) for (let i = 0; i < 5; i++) await timed(id, 200);
    const overheadNow = async () => {
      const xs = [];
      for (let i = 0; i < 15; i++) xs.push(await timed("noop", 0));
      return median(xs);
    };

    // Calibrate n so that one request does about targetMs of work.
    let overhead = await overheadNow();
    const ns = {};
    for (const id of [...coreIds, ...partIds.slice(2), ...ringIds]) {
      const probe = 200;
      const walls = [];
      for (let i = 0; i < 5; i++) walls.push(await timed(id, probe));
      const perOp = Math.max(median(walls) - overhead, 0.05) / probe;
      ns[id] = Math.max(10, Math.min(100_000, Math.round(targetMs / perOp)));
    }
    // The ring sizes do the same work: one n for all, so that no size gets longer batches.
    const ringN = Math.round(median(ringIds.map((id) => ns[id])));
    for (const id of ringIds) ns[id] = ringN;
    log(`  workerd: n per request ${JSON.stringify(ns)}, request overhead ${overhead.toFixed(2)} ms`);

    // Does the method measure something? (1) wall time scales with n;
    // (2) the worker's own clocks, across the same loop, compared with the wall time.
    const linear = [];
    for (let i = 0; i < 5; i++) {
      const t1 = (await timed("b", ns.b)) - overhead;
      const t2 = (await timed("b", 2 * ns.b)) - overhead;
      linear.push(t2 / t1);
    }
    const clock = [];
    const clockSync = [];
    for (let i = 0; i < 3; i++) {
      let t0 = performance.now();
      const inner = await get(`/clock?c=b&n=${ns.b}`);
      clock.push({ wallMs: performance.now() - t0 - overhead, dateNowMs: inner.dateNowDeltaMs, performanceNowMs: inner.performanceNowDeltaMs });
      t0 = performance.now();
      const sync = await get(`/clock-sync?n=${Math.max(1000, ns.codec * 5)}`);
      clockSync.push({ wallMs: performance.now() - t0 - overhead, dateNowMs: sync.dateNowDeltaMs, performanceNowMs: sync.performanceNowDeltaMs });
    }

    const measureGroup = async (ids) => {
      const perRun = [];
      for (let r = 0; r < runs; r++) {
        const walls = Object.fromEntries(["noop", ...ids].map((id) => [id, []]));
        for (let round = 0; round < rounds; round++) {
          walls.noop.push(await timed("noop", 0));
          // Interleaved, the first candidate rotating from round to round.
          for (const id of ids.map((_, i) => ids[(i + round) % ids.length])) walls[id].push(await timed(id, ns[id]));
          walls.noop.push(await timed("noop", 0));
        }
        const ovh = median(walls.noop);
        // µs per operation, round by round (kept for ratios paired by round: pairedRatio).
        const byRound = Object.fromEntries(ids.map((id) => [id, walls[id].map((w) => ((w - ovh) * 1000) / ns[id])]));
        const perOpUs = Object.fromEntries(ids.map((id) => [id, median(byRound[id])]));
        perRun.push({ ...perOpUs, overheadMs: ovh, rounds: byRound });
      }
      return perRun;
    };
    const core = await measureGroup(coreIds);
    const parts = await measureGroup(partIds);
    const ring = ringIds.length ? await measureGroup(ringIds) : [];

    // One operation per request: what a request pays, with whatever the HTTP
    // handling around it left in the caches, rather than a warm tight loop.
    // Per run, median wall of n = 1 requests minus median wall of n = 0 ones.
    const cold = [];
    const coldIds = ["a", "b", "c", "d", "e", "b-open"];
    for (let r = 0; r < (coldRequests ? runs : 0); r++) {
      const walls = Object.fromEntries(["noop", ...coldIds].map((id) => [id, []]));
      const ids = ["noop", ...coldIds];
      for (let k = 0; k < coldRequests; k++) {
        for (const id of ids.map((_, i) => ids[(i + k) % ids.length])) walls[id].push(await timed(id, id === "noop" ? 0 : 1));
      }
      const base = median(walls.noop);
      cold.push(Object.fromEntries(coldIds.map((id) => [id, (median(walls[id]) - base) * 1000])));
    }

    // Where (b)'s time goes, and (a)'s and (c)'s for comparison: V8's sampling profiler through the inspector.
    let profile;
    if (profileOps) {
      const insp = await connectInspector(inspectorPort, "bench-core");
      const moduleOf = moduleMap(script);
      profile = {};
      try {
        await insp.send("Profiler.enable");
        await insp.send("Profiler.setSamplingInterval", { interval: 50 });
        for (const id of ["a", "b", "c"]) {
          await insp.send("Profiler.start");
          await get(`/run?c=${id}&n=${profileOps}`);
          const { profile: p } = await insp.send("Profiler.stop");
          const t = selfTimes(p, moduleOf);
          const us = (ms) => (ms * 1000) / profileOps;
          profile[id] = {
            busyUs: us(t.busy),
            functions: t.functions.filter((f) => f.name !== "(idle)").slice(0, 24).map((f) => ({ name: f.name, where: f.where, us: us(f.ms) })),
          };
        }
      } finally {
        insp.close();
      }
    }
    return { candidates: setup.candidates, sizes: setup.sizes, plaintextBytes: setup.plaintextBytes, rounds, ns, overheadMs: overhead, linear, clock, clockSync, core, parts, ring, cold, coldRequests, profile };
  } finally {
    await dispose();
  }
}

/** The same candidates and schedule in Node 20, in a child process. */
export async function coreInNode({ runs, rounds, targetMs, rings }) {
  const script = await buildCoreNode();
  const { stdout } = await run(process.execPath, [script, JSON.stringify({ runs, rounds, targetMs, rings })], { timeoutMs: 300_000 });
  const out = JSON.parse(stdout.trim().split("\n").pop());
  return { node: out.node, candidates: out.candidates, sizes: out.sizes, ns: out.core.n, core: out.core.runs, parts: out.parts.runs, ring: out.ring?.runs ?? [] };
}
