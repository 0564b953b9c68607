/**
 * Part 7: what the request log middleware (src/observability/log.ts) costs a
 * request. Three bare Hono apps that differ only in their middleware: none,
 * an empty one (`await next()`), and the request log writing to a no-op, so
 * the difference is the log's own work (the record, the counters, one JSON
 * line). Run in Node 20 (V8, as workerd), as a child process of
 * bench/parts/request-log.mjs; prints one JSON line: microseconds per
 * request for each app, the best of `rounds` rounds of `n` requests, the
 * apps taking turns within each round.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { requestLog } from "../src/observability/log.js";
import { ServiceMetrics } from "../src/observability/metrics.js";

const [n = 2000, rounds = 5] = process.argv.slice(2).map(Number);

const appWith = (middleware?: MiddlewareHandler) => {
  const app = new Hono();
  if (middleware) app.use("*", middleware);
  return app.get("/x", (c) => c.text("ok"));
};

const metrics = new ServiceMetrics();
const apps = {
  bare: appWith(),
  empty: appWith(async (_c, next) => {
    await next();
  }),
  logged: appWith(requestLog({ metrics, clock: () => Date.now(), write: () => {} }) as unknown as MiddlewareHandler),
};
type Name = keyof typeof apps;

async function perRequestUs(app: Hono, count: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await app.request("/x");
  return ((performance.now() - t0) / count) * 1000;
}

const best: Record<Name, number> = { bare: Infinity, empty: Infinity, logged: Infinity };
const names = Object.keys(apps) as Name[];
for (const name of names) await perRequestUs(apps[name], Math.min(n, 500)); // warm-up
for (let round = 0; round < rounds; round++) {
  const order = [...names.slice(round % 3), ...names.slice(0, round % 3)];
  for (const name of order) best[name] = Math.min(best[name], await perRequestUs(apps[name], n));
}
// The log counted every request it saw: a check that it ran, not a timing.
const counted = metrics.requests.get({ route: "/x", method: "GET", status: "200" });
console.log(JSON.stringify({ ...best, counted, expected: Math.min(n, 500) + rounds * n }));
