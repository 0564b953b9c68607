/**
 * Part 1 and part 4 in Node 20: the same candidates (bench/core-cases.ts),
 * the same interleaved schedule as the workerd side, timed in-process with
 * performance.now() (which Node does not coarsen). Bundled by
 * bench/lib/build.mjs and run as a child process:
 *
 *   node core-node.mjs '{"runs":5,"rounds":10,"targetMs":30,"rings":[2,8,32,128]}'
 *
 * Prints one JSON document on stdout.
 */
import { makeCandidates, makeRingCandidate, runOps, type Candidate } from "./core-cases.js";

interface Plan {
  runs: number;
  rounds: number;
  targetMs: number;
  rings: number[];
}

async function timeOps(c: Candidate, n: number): Promise<number> {
  const t0 = performance.now();
  await runOps(c, n);
  return performance.now() - t0;
}

/** Picks n so that one block of n operations takes about targetMs. */
async function calibrate(c: Candidate, targetMs: number): Promise<number> {
  // Warm-up: JIT, and Node's crypto thread pool.
  const until = performance.now() + 5 * targetMs;
  while (performance.now() < until) await runOps(c, 20);
  const probe = 50;
  const perOp = (await timeOps(c, probe)) / probe;
  return Math.max(5, Math.min(50_000, Math.round(targetMs / Math.max(perOp, 1e-4))));
}

/**
 * runs × rounds, the candidates interleaved within each round (the starting
 * candidate rotating from round to round); per run, the median µs per
 * operation and every round's figure. sameN: one n for the whole group
 * (candidates doing the same work).
 */
async function measure(groups: Candidate[], plan: Plan, sameN = false) {
  const ns = new Map<string, number>();
  for (const c of groups) ns.set(c.id, await calibrate(c, plan.targetMs));
  if (sameN) {
    const n = median([...ns.values()]);
    for (const c of groups) ns.set(c.id, Math.round(n));
  }
  const runs: Record<string, number | Record<string, number[]>>[] = [];
  for (let r = 0; r < plan.runs; r++) {
    const samples = new Map<string, number[]>(groups.map((c) => [c.id, []]));
    for (let round = 0; round < plan.rounds; round++) {
      for (const c of groups.map((_, i) => groups[(i + round) % groups.length]!)) {
        const n = ns.get(c.id)!;
        samples.get(c.id)!.push(((await timeOps(c, n)) * 1000) / n);
      }
    }
    // Per run: the median µs per operation, and the rounds themselves (for ratios paired by round).
    runs.push({ ...Object.fromEntries([...samples].map(([id, s]) => [id, median(s)])), rounds: Object.fromEntries(samples) });
  }
  return { n: Object.fromEntries(ns), runs };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const plan = JSON.parse(process.argv[2] ?? "{}") as Plan;
  const { candidates, breakdown, sizes, plaintextBytes } = await makeCandidates();
  const rings = [];
  for (const n of plan.rings) rings.push(await makeRingCandidate(n));
  if (plan.rings.length) rings.push(await makeRingCandidate(plan.rings[0]!, 256, `ring${plan.rings[0]}-control`));
  const core = await measure(candidates, plan);
  const parts = await measure([candidates[0]!, candidates[1]!, ...breakdown], plan);
  const ring = rings.length ? await measure(rings, plan, true) : undefined;
  process.stdout.write(
    JSON.stringify({
      node: process.version,
      candidates: [...candidates, ...breakdown, ...rings].map(({ id, label }) => ({ id, label })),
      sizes,
      plaintextBytes,
      core,
      parts,
      ring,
    }) + "\n",
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
