/**
 * How a Worker entry is bundled to run under workerd (Miniflare): one ES
 * module, workerd's export conditions first. The simulator (fleet/run.mjs),
 * the benchmark's workers (bench/lib/build.mjs) and the e2e service
 * (test/e2e/service.ts) build with these, each adding its entry, output and
 * externals; wrangler bundles the deployed Worker itself.
 */
export const WORKERD_BUNDLE = {
  bundle: true,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  conditions: ["workerd", "worker", "browser"],
  mainFields: ["module", "main"],
};
