// Part 7: the request log middleware's cost per request (bench/request-log.ts),
// in a Node 20 child process per run. It was once a timing assertion inside
// npm test; timings belong here.
import { buildCoreNode } from "../lib/build.mjs";
import { run } from "../lib/proc.mjs";

export async function requestLogPart({ runs, n, rounds, log }) {
  const script = await buildCoreNode("request-log");
  const perRun = [];
  for (let i = 0; i < runs; i++) {
    const { stdout } = await run(process.execPath, [script, String(n), String(rounds)], { timeoutMs: 120_000 });
    const x = JSON.parse(stdout.trim().split("\n").at(-1));
    if (x.counted !== x.expected) throw new Error(`the request log counted ${x.counted} requests of ${x.expected}`);
    log(`  run ${i + 1}: bare ${x.bare.toFixed(2)} µs, empty middleware ${x.empty.toFixed(2)} µs, request log ${x.logged.toFixed(2)} µs per request`);
    perRun.push({ bare: x.bare, empty: x.empty, logged: x.logged });
  }
  return { runs, n, rounds, perRun };
}
