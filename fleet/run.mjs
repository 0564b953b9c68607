#!/usr/bin/env node
// `npm run fleet`: the fleet simulator. Bundles the simulator Worker
// (fleet/worker.ts: the service's app per isolate, its Durable Object
// classes, the KV model) with esbuild, starts it under Miniflare (workerd)
// with wrangler.toml's bindings and generated secrets, asks it to run each
// scenario (a fresh Miniflare each, so no state leaks between them), and
// prints the report. `npm run fleet -- --json` prints the report's figures as
// one JSON object on the last line. Everything it starts is stopped on the
// way out, on failure and Ctrl-C too.
//
//   npm run fleet -- [--json] [--smoke] [--scenario steady,revoke] [--seed N]
//                    [--rate R] [--time-scale F] [--jobs N] [--list]
//
// --smoke: every scenario on five isolates with phases a tenth as long; checks
// that the simulator runs and prints only the JSON line (its figures mean
// nothing at that size). A minute or so.
//
// --jobs: scenarios run at once, each in its own workerd (default 2: the
// machine's cores). A scenario's figures do not depend on it: time is virtual.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { WORKERD_BUNDLE } from "../scripts/workerd-bundle.mjs";
import { ROOT, wranglerCompat } from "../bench/lib/build.mjs";
import { cleanupAll, installExitHandlers, onCleanup, scratch, withTimeout } from "../bench/lib/proc.mjs";
import { headline, renderReport } from "./report.mjs";

const SCOPES = ["tickets", "sessions", "keys", "admin", "stek", "metrics"];
/** The simulator's one context: both session caches, so client sessions can be stored. */
const CONTEXTS = { default: { cache_mode: "both" } };
/** Real seconds one scenario may take before the run fails. */
const SCENARIO_TIMEOUT_MS = 240_000;

function parseArgs(argv) {
  const args = { json: false, list: false, smoke: false, scenarios: undefined, seed: 1, settings: {}, jobs: 2 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const number = (name) => {
      const v = Number(value());
      if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
      return v;
    };
    if (a === "--json") args.json = true;
    else if (a === "--smoke") args.smoke = true;
    else if (a === "--list") args.list = true;
    else if (a === "--scenario" || a === "--scenarios") args.scenarios = value().split(",").filter(Boolean);
    else if (a === "--seed") args.seed = number("--seed");
    else if (a === "--rate") args.settings.rate = number("--rate");
    else if (a === "--time-scale") args.settings.timeScale = number("--time-scale");
    else if (a === "--jobs") args.jobs = Math.max(1, Math.floor(number("--jobs")));
    else throw new Error(`unknown argument ${a} (--json, --smoke, --scenario a,b, --seed N, --rate R, --time-scale F, --jobs N, --list)`);
  }
  return args;
}

async function buildWorker() {
  const outfile = scratch("fleet-worker.mjs");
  await build({
    entryPoints: [join(ROOT, "fleet/worker.ts")],
    outfile,
    ...WORKERD_BUNDLE,
    // node:async_hooks: the simulator's objects attribute their own calls' latency to the call they serve (fleet/objects.ts).
    external: ["cloudflare:*", "node:async_hooks"],
    logLevel: "error",
  });
  return readFileSync(outfile, "utf8");
}

/** wrangler.toml's bindings (Durable Objects, KV, vars), read from a copy so that no developer .dev.vars is picked up. */
async function wranglerWorkerOptions() {
  const dir = scratch("fleet-config");
  mkdirSync(dir, { recursive: true });
  const toml = readFileSync(join(ROOT, "wrangler.toml"), "utf8").replace(/^main\s*=\s*"([^"]+)"/m, (_, p) => `main = "${join(ROOT, p)}"`);
  writeFileSync(join(dir, "wrangler.toml"), toml);
  const { unstable_getMiniflareWorkerOptions } = await import("wrangler");
  return unstable_getMiniflareWorkerOptions(join(dir, "wrangler.toml")).workerOptions;
}

function secrets() {
  const token = `esr_fleet_${randomBytes(24).toString("base64url")}`;
  const hash = createHash("sha256").update(token).digest("hex");
  return {
    MASTER_KEY: randomBytes(32).toString("hex"),
    API_TOKENS: JSON.stringify({ [hash]: { context: "default", scopes: SCOPES } }),
    CONTEXTS: JSON.stringify(CONTEXTS),
    FLEET_TOKEN: token,
  };
}

/** A fresh Miniflare running the simulator Worker; returns a function that runs one scenario in it and stops it. */
async function startSimulator(script, workerOptions, compat) {
  const stdio = { stderr: "" };
  const mf = new Miniflare({
    ...workerOptions,
    ...compat,
    // AsyncLocalStorage, for the simulator only (fleet/objects.ts); the service needs no flag.
    compatibilityFlags: [...compat.compatibilityFlags, "nodejs_als"],
    name: "edge-session-resumption-fleet",
    modules: true,
    script,
    bindings: { ...workerOptions.bindings, ...secrets() },
    host: "127.0.0.1",
    port: 0,
    handleRuntimeStdio: (stdout, stderr) => {
      stdout.resume();
      stderr.on("data", (d) => (stdio.stderr = (stdio.stderr + d).slice(-4096)));
    },
  });
  const stop = onCleanup(() => mf.dispose());
  await mf.ready;
  return { mf, stop, stdio };
}

async function runScenario(script, workerOptions, compat, name, args) {
  const sim = await startSimulator(script, workerOptions, compat);
  try {
    const res = await withTimeout(
      sim.mf.dispatchFetch("http://fleet.invalid/run", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ scenario: name, seed: args.seed, settings: args.settings, topology: args.smoke ? "small" : "default" }),
      }),
      SCENARIO_TIMEOUT_MS,
      `scenario ${name}`,
    );
    const body = await res.json();
    if (res.status !== 200) {
      throw new Error(`scenario ${name} failed: ${body.error?.message ?? res.status}\n${body.error?.stack ?? ""}\n${sim.stdio.stderr}`);
    }
    return body;
  } finally {
    await sim.stop();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.smoke) args.settings = { timeScale: 0.1, ...args.settings };
  installExitHandlers();
  process.env.WRANGLER_SEND_METRICS = "false";
  const [script, workerOptions, compat] = await Promise.all([buildWorker(), wranglerWorkerOptions(), wranglerCompat()]);
  const available = await (async () => {
    const sim = await startSimulator(script, workerOptions, compat);
    try {
      return await (await sim.mf.dispatchFetch("http://fleet.invalid/scenarios")).json();
    } finally {
      await sim.stop();
    }
  })();
  if (args.list) {
    for (const s of available) console.log(`${s.name.padEnd(14)} ${s.description}`);
    return;
  }
  const names = args.scenarios ?? available.map((s) => s.name);
  for (const n of names) if (!available.some((s) => s.name === n)) throw new Error(`no scenario ${n} (${available.map((s) => s.name).join(", ")})`);
  const results = new Array(names.length);
  const started = Date.now();
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const i = next++;
      const t = Date.now();
      const result = await runScenario(script, workerOptions, compat, names[i], args);
      result.real_seconds = (Date.now() - t) / 1000;
      if (!args.json && !args.smoke) process.stderr.write(`fleet: ${names[i]} done in ${result.real_seconds.toFixed(1)} s\n`);
      results[i] = result;
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.jobs, names.length) }, worker));
  if (args.smoke) console.log(`fleet smoke: ${results.length} scenarios ran in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  else if (!args.json) console.log(renderReport(results, { realSeconds: (Date.now() - started) / 1000 }));
  else {
    for (const r of results) console.log(JSON.stringify(r));
  }
  console.log(JSON.stringify(headline(results)));
}

main()
  .then(() => cleanupAll())
  .catch(async (e) => {
    console.error(e instanceof Error ? e.stack : e);
    await cleanupAll();
    process.exit(1);
  });
