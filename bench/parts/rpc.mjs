// Part 6: another Worker opening a ticket through a Service Binding, by RPC
// (the ResumptionService entrypoint, src/rpc/) and by HTTP over the same
// binding (the default entrypoint, the Hono app). The service and the
// calling Worker (bench/rpc-caller.ts) run in one workerd under Miniflare,
// as bound Workers run on one machine in production. Each request to the
// caller runs n opens in a row; its own overhead (n = 0) is measured in the
// same round and subtracted; the two ways and the overhead take turns, the
// order rotated from round to round.
import { readFileSync } from "node:fs";
import { buildCoreWorker, wranglerCompat } from "../lib/build.mjs";
import { client, serveMiniflare } from "../lib/serve.mjs";
import { median } from "../lib/stats.mjs";
import { REFERENCE } from "./sessions.mjs";

async function caller(server) {
  const worker = await server.mf.getWorker("caller");
  return async (path, init) => {
    const res = await worker.fetch(`http://caller${path}`, init);
    const body = await res.json();
    if (res.status !== 200) throw new Error(`caller ${path}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
}

export async function rpcPart({ runs, rounds, n, log }) {
  const script = readFileSync(await buildCoreWorker("rpc-caller"), "utf8");
  const { compatibilityDate, compatibilityFlags } = await wranglerCompat();
  const server = await serveMiniflare({
    workers: [
      {
        name: "caller",
        modules: true,
        script,
        compatibilityDate,
        compatibilityFlags,
        serviceBindings: { RPC: { name: "edge-session-resumption", entrypoint: "ResumptionService" }, HTTP: "edge-session-resumption" },
      },
    ],
  });
  try {
    const sealed = await client(server)("POST", "/v1/tickets", { session: REFERENCE });
    if (sealed.status !== 201) throw new Error(`seal: ${sealed.status} ${JSON.stringify(sealed.body)}`);
    const call = await caller(server);
    // The caller opens once each way and checks that both answers are the same.
    await call("/setup", { method: "POST", body: JSON.stringify({ token: server.token, ticket: sealed.body.ticket }) });
    const timed = async (mode, count) => {
      const t = performance.now();
      const out = await call(`/run?mode=${mode}&n=${count}`);
      if (out.failed) throw new Error(`${out.failed} of ${count} ${mode} opens failed`);
      return performance.now() - t;
    };
    // Warm both paths (JIT, the ring's cached copy, the verified-token and subkey caches).
    for (const mode of ["rpc", "http"]) await timed(mode, n);

    const perRun = [];
    for (let run = 0; run < runs; run++) {
      const per = { rpc: [], http: [] };
      for (let round = 0; round < rounds; round++) {
        const steps = ["rpc", "http", "zero"];
        const order = [...steps.slice(round % 3), ...steps.slice(0, round % 3)];
        const ms = {};
        for (const step of order) ms[step] = await timed(step === "zero" ? "rpc" : step, step === "zero" ? 0 : n);
        // Microseconds per open, the request's own overhead taken out.
        per.rpc.push(((ms.rpc - ms.zero) / n) * 1000);
        per.http.push(((ms.http - ms.zero) / n) * 1000);
      }
      const result = { rpc: median(per.rpc), http: median(per.http), rounds: per };
      log(`  run ${run + 1}: RPC open ${result.rpc.toFixed(1)} µs, HTTP open over the binding ${result.http.toFixed(1)} µs`);
      perRun.push(result);
    }
    return { runs, rounds, n, perRun };
  } finally {
    await server.stop();
  }
}
