/**
 * The bench worker of part 1 and part 4: runs the candidates of
 * bench/core-cases.ts inside workerd. Timing is done from outside (the
 * Node side measures each request's wall time): inside workerd,
 * Date.now() and performance.now() only advance on I/O (a Spectre
 * mitigation), so a CPU-bound loop would time itself at 0 ms. /clock shows it.
 *
 *   GET /setup?rings=2,8,32,128   build and self-check every candidate; answers the ticket sizes
 *   GET /run?c=<id>&n=<ops>       run n operations of candidate c (n=0: the request overhead alone)
 *   GET /clock?c=<id>&n=<ops>     what the worker's own clocks say across n operations
 *   GET /clock-sync?n=<loops>     the same across a synchronous loop (no await at all)
 */
import { JSON_TICKET_PAYLOAD, makeCandidates, makeRingCandidate, runOps, type Candidate, type Sizes } from "./core-cases.js";

interface State {
  byId: Map<string, Candidate>;
  sizes: Sizes;
  plaintextBytes: number;
}

let state: State | undefined;

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/setup") {
        const { candidates, breakdown, sizes, plaintextBytes } = await makeCandidates();
        const byId = new Map([...candidates, ...breakdown].map((c) => [c.id, c]));
        const rings = (url.searchParams.get("rings") ?? "").split(",").filter(Boolean).map(Number);
        for (const n of rings) {
          const ring = await makeRingCandidate(n);
          byId.set(ring.id, ring);
        }
        if (rings.length) {
          const control = await makeRingCandidate(rings[0]!, 256, `ring${rings[0]}-control`);
          byId.set(control.id, control);
        }
        state = { byId, sizes, plaintextBytes };
        return json({ candidates: [...byId.values()].map(({ id, label }) => ({ id, label })), sizes, plaintextBytes });
      }
      const c = state?.byId.get(url.searchParams.get("c") ?? "");
      const n = Number(url.searchParams.get("n") ?? "0");
      if (url.pathname === "/run") {
        if (n === 0) return json({ n, sink: 0 });
        if (!c) return json({ error: "unknown candidate, or /setup not called" }, 400);
        return json({ n, sink: await runOps(c, n) });
      }
      if (url.pathname === "/clock-sync") {
        // Pure JavaScript, no await: the JSON of the reference payload, n times.
        const d0 = Date.now();
        const p0 = performance.now();
        let sink = 0;
        for (let i = 0; i < n; i++) sink += JSON.stringify(JSON_TICKET_PAYLOAD).length + i;
        return json({ n, sink, dateNowDeltaMs: Date.now() - d0, performanceNowDeltaMs: performance.now() - p0 });
      }
      if (url.pathname === "/clock") {
        if (!c) return json({ error: "unknown candidate, or /setup not called" }, 400);
        const d0 = Date.now();
        const p0 = performance.now();
        const sink = await runOps(c, n);
        return json({ n, sink, dateNowDeltaMs: Date.now() - d0, performanceNowDeltaMs: performance.now() - p0 });
      }
      return json({ error: "not found" }, 404);
    } catch (e) {
      return json({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }, 500);
    }
  },
} satisfies ExportedHandler;
