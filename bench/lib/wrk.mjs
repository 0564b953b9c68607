// Runs Debian's wrk against the local worker, bounded in time, and parses the
// JSON line bench/wrk/report.lua prints.
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./build.mjs";
import { run, scratch } from "./proc.mjs";

export const WRK = process.env.WRK ?? "/usr/bin/wrk";
export const hasWrk = () => existsSync(WRK);

let bodies = 0;
export function bodyFile(body) {
  const file = scratch(`body-${bodies++}.json`);
  writeFileSync(file, typeof body === "string" ? body : JSON.stringify(body));
  return file;
}

/**
 * One wrk run. script: "post" or "get". Returns requests/s, latency
 * percentiles (ms), and the error counts (any non-2xx counts as an error).
 */
export async function wrk({ url, script, durationS, connections, threads, env = {} }) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${durationS}s`, "--timeout", "5s", "-s", join(ROOT, "bench/wrk", `${script}.lua`), url];
  const { stdout, stderr } = await run(WRK, args, {
    timeoutMs: (durationS + 20) * 1000,
    env: { BENCH_WRK_DIR: join(ROOT, "bench/wrk"), ...env },
  });
  const line = stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (!line) throw new Error(`wrk printed no result:\n${stdout}\n${stderr}`);
  const r = JSON.parse(line.slice(8));
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return {
    rps: r.requests / (r.duration_us / 1e6),
    requests: r.requests,
    p50: r.latency.p50 / 1000,
    p90: r.latency.p90 / 1000,
    p99: r.latency.p99 / 1000,
    max: r.latency.max / 1000,
    errors,
    errorDetail: r.errors,
  };
}
