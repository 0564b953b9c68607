#!/usr/bin/env node
// npm run soak [-- --seconds N] [--concurrency N] [--mix seal=24,open=26,...] [--json FILE]
//
// The load soak of test/soak/soak.ts against the worker under Miniflare on
// 127.0.0.1 (60 s by default). Prints the report; exits 1 if a valid
// operation failed or the worker's memory was not bounded, 2 on a harness
// error or the watchdog. Not part of `npm test` (test/e2e/soak-smoke.test.ts
// runs a 5 s slice of the same harness there).
//
// soak.ts is TypeScript that imports test/e2e/service.ts: it is bundled with
// esbuild next to itself (so that service.ts's paths, relative to its own
// location two levels below the root, stay right), imported, and the bundle
// removed at once.
import { build } from "esbuild";
import { rmSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    seconds: { type: "string", default: "60" },
    concurrency: { type: "string", default: "24" },
    mix: { type: "string" },
    json: { type: "string" },
    help: { type: "boolean", short: "h" },
  },
});
if (values.help) {
  console.log("npm run soak -- [--seconds 60] [--concurrency 24] [--mix seal=24,open=26,put=15,create=5,get=20,take=10] [--json report.json]");
  process.exit(0);
}
const seconds = Number(values.seconds);
const mix = values.mix
  ? Object.fromEntries(values.mix.split(",").map((part) => {
      const [kind, weight] = part.split("=");
      return [kind.trim(), Number(weight)];
    }))
  : undefined;
if (mix && Object.entries(mix).some(([k, w]) => !["seal", "open", "put", "create", "get", "take"].includes(k) || !(w >= 0))) {
  console.error("--mix: kind=weight,… with kinds seal, open, put, create, get, take and weights >= 0");
  process.exit(2);
}
const concurrency = Number(values.concurrency);
if (!(seconds > 0 && seconds <= 3600) || !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 256)) {
  console.error("--seconds: 1 to 3600; --concurrency: an integer from 1 to 256");
  process.exit(2);
}

const bundle = fileURLToPath(new URL(`./.soak-${process.pid}.mjs`, import.meta.url));
const removeBundle = () => rmSync(bundle, { force: true });
process.once("exit", removeBundle);
await build({
  entryPoints: [fileURLToPath(new URL("./soak.ts", import.meta.url))],
  outfile: bundle,
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  packages: "external",
  logLevel: "error",
});
const { runSoak, formatReport } = await import(pathToFileURL(bundle).href);
removeBundle();

// The watchdog stops the load; runSoak stops the worker on its way out.
// Ctrl-C or SIGTERM ends the run at once, without a report: on exit,
// Miniflare's exit hook stops workerd and test/e2e/service.ts removes the
// worker's temp state. (wrangler's module installs handlers that exit with
// status 0, to clean up Pages' temp files, which the soak never makes: they
// are replaced.)
const abort = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.removeAllListeners(signal);
  process.on(signal, () => {
    console.error(`\nsoak: ${signal}: stopped, no report`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  });
}
const watchdog = setTimeout(() => {
  console.error("soak: watchdog: still running long after its time, stopping");
  abort.abort();
  setTimeout(() => process.exit(2), 20_000).unref();
}, (seconds + 120) * 1000);
watchdog.unref();

console.log(`soak: ${seconds} s, ${concurrency} requests in flight, worker on 127.0.0.1 (Miniflare)`);
let report;
try {
  report = await runSoak({ seconds, concurrency, mix, signal: abort.signal, log: (line) => console.log(line) });
} catch (e) {
  console.error("soak: harness error:", e);
  process.exit(2);
}
clearTimeout(watchdog);
console.log(formatReport(report));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2) + "\n");
process.exit(report.ok ? 0 : 1);
