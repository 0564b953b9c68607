// Builds what the benchmark runs: the bench worker and the Node script of
// the core benchmark (esbuild, from bench/*.ts), and the service's own worker
// exactly as `wrangler deploy` would bundle it (wrangler --dry-run).
import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { run, scratch } from "./proc.mjs";
import { WORKERD_BUNDLE } from "../../scripts/workerd-bundle.mjs";

export const ROOT = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
/**
 * The checkout whose worker the HTTP parts serve: this one, unless
 * BENCH_WORKER_ROOT names another (e.g. `git archive <rev> | tar -x -C /tmp/base`
 * with node_modules linked in, to compare two versions).
 */
export const WORKER_ROOT = process.env.BENCH_WORKER_ROOT ?? ROOT;

/** bench/workerd-core.ts (or another bench worker) → one ES module for workerd. */
export async function buildCoreWorker(entry = "workerd-core") {
  const outfile = scratch(`${entry}.mjs`);
  await build({
    entryPoints: [join(ROOT, `bench/${entry}.ts`)],
    outfile,
    ...WORKERD_BUNDLE,
    logLevel: "error",
  });
  return outfile;
}

/** bench/node-core.ts (or another bench script) → one ES module for Node 20. */
export async function buildCoreNode(entry = "node-core") {
  const outfile = scratch(`${entry}.mjs`);
  await build({
    entryPoints: [join(ROOT, `bench/${entry}.ts`)],
    outfile,
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node20",
    logLevel: "error",
  });
  return outfile;
}

/** The service worker, bundled by wrangler itself from wrangler.toml (`wrangler deploy --dry-run`). */
export async function buildServiceWorker() {
  const outdir = scratch("service");
  await run(join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir, "-c", join(WORKER_ROOT, "wrangler.toml")], {
    cwd: WORKER_ROOT,
    env: { WRANGLER_SEND_METRICS: "false", CI: "true" },
    timeoutMs: 60_000,
  });
  return join(outdir, "index.js");
}

/** compatibility_date and flags from wrangler.toml (read by wrangler's own config reader). */
export async function wranglerCompat() {
  const { unstable_readConfig } = await import("wrangler");
  const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml") });
  return { compatibilityDate: config.compatibility_date, compatibilityFlags: config.compatibility_flags ?? [] };
}

export function versions() {
  const pkg = (name) => JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")).version;
  return {
    node: process.version,
    wrangler: pkg("wrangler"),
    miniflare: pkg("miniflare"),
    workerd: pkg("workerd"),
    jose: pkg("jose"),
    "iron-webcrypto": pkg("iron-webcrypto"),
    hono: pkg("hono"),
    esbuild: pkg("esbuild"),
  };
}
