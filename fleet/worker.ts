/**
 * The simulator Worker: `npm run fleet` (fleet/run.mjs) bundles it and
 * starts it under Miniflare with wrangler.toml's bindings, then asks it to
 * run each scenario. It exports the service's Durable Object classes
 * (metered, fleet/objects.ts) under their own names, so the bindings of
 * wrangler.toml reach the real KeyRingObject, KeyVaultObject and
 * ReplayGuardObject. The test slice (test/fleet/) runs with this module as
 * its main, for the same classes.
 */
import type { Env } from "../src/env.js";
import { DEFAULT_TOPOLOGY, SMALL_TOPOLOGY } from "./latency.js";
import { runScenario, type RunOptions } from "./run-scenario.js";
import { SCENARIOS } from "./scenarios/index.js";

export { KeyRingObject, KeyVaultObject, ReplayGuardObject } from "./objects.js";

interface FleetEnv extends Env {
  /** The bearer token the workload sends (fleet/run.mjs generates it with its hash in API_TOKENS). */
  FLEET_TOKEN: string;
}

type RunRequest = Omit<RunOptions, "env" | "token" | "virtualTimers" | "topology"> & { topology?: "default" | "small" };

export default {
  async fetch(request: Request, env: FleetEnv): Promise<Response> {
    const url = new URL(request.url);
    if (request.method === "GET" && url.pathname === "/scenarios") {
      return Response.json(SCENARIOS.map((s) => ({ name: s.name, description: s.description, headline: s.headline })));
    }
    if (request.method !== "POST" || url.pathname !== "/run") return new Response("POST /run or GET /scenarios\n", { status: 404 });
    const body = (await request.json()) as RunRequest;
    try {
      const topology = body.topology === "small" ? SMALL_TOPOLOGY : DEFAULT_TOPOLOGY;
      const result = await runScenario({ ...body, topology, env, token: env.FLEET_TOKEN, virtualTimers: true });
      return Response.json(result);
    } catch (e) {
      const error = e instanceof Error ? { name: e.name, message: e.message, stack: e.stack } : { name: "Error", message: String(e) };
      return Response.json({ error }, { status: 500 });
    }
  },
} satisfies ExportedHandler<FleetEnv>;
