#!/usr/bin/env node
// `npm run fuzz [-- --count N --seed S]`: at least 1,000,000 hostile inputs
// through the core's codecs (fuzz/targets.ts). Fails on any exception that is
// not a typed ResumptionError, on an input slower than 1 s, and on heap
// growth beyond a fixed bound between the first and last 10% of the run.
import { build } from "esbuild";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const count = arg("count", 1_000_000);
const seed = arg("seed", Math.floor(Math.random() * 2 ** 31));
const HEAP_GROWTH_LIMIT = 16 * 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), "esr-fuzz-"));
try {
  const outfile = join(dir, "targets.mjs");
  await build({ entryPoints: ["fuzz/targets.ts"], bundle: true, format: "esm", platform: "neutral", outfile, logLevel: "error" });
  const { runFuzz } = await import(pathToFileURL(outfile).href);

  const heap = () => {
    globalThis.gc?.();
    return process.memoryUsage().heapUsed;
  };
  const started = Date.now();
  let baseline;
  const report = await runFuzz(count, seed, (done) => {
    if (done === Math.max(100_000, Math.floor(count / 10))) baseline = heap();
    process.stdout.write(`  ${done.toLocaleString("en")} inputs, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  });
  const growth = baseline === undefined ? 0 : heap() - baseline;
  const seconds = (Date.now() - started) / 1000;

  console.log(`\nfuzz: ${report.inputs.toLocaleString("en")} inputs in ${seconds.toFixed(1)} s (seed ${seed})`);
  for (const [target, r] of Object.entries(report.byTarget)) {
    console.log(`  ${target.padEnd(12)} ok ${String(r.ok).padStart(8)}  typed errors ${String(r.typed_error).padStart(8)}`);
  }
  console.log(`  slowest input: ${report.slowestMs} ms; heap growth after warm-up: ${(growth / 1024 / 1024).toFixed(2)} MiB${globalThis.gc ? "" : " (run with --expose-gc for a precise figure)"}`);

  let failed = false;
  for (const f of report.findings) {
    failed = true;
    console.log(`FINDING in ${f.target}: ${f.error}\n  input: ${f.input.slice(0, 400)}`);
  }
  const fail = (why) => {
    failed = true;
    console.log(`FAIL: ${why}`);
  };
  if (report.slowestMs > 1000) fail("an input took longer than 1 s");
  if (globalThis.gc && growth > HEAP_GROWTH_LIMIT) fail("the heap grew beyond 16 MiB");
  if (report.inputs < count) fail(`stopped after ${report.inputs} inputs`);
  process.exitCode = failed ? 1 : 0;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
