/**
 * The request log: one JSON line per request (console.log, which Workers Logs
 * and `wrangler tail` collect), and from the same record the isolate's
 * counters and, when the METRICS binding exists, an Analytics Engine data
 * point. It runs after the answer is built and awaits nothing but next().
 *
 * What a line holds is fixed by RequestRecord: the route *pattern* (never the
 * path, which may carry a session id), the method, the status, the caller's
 * context and how it authenticated ("token" or "jwt:<issuer name>"), the
 * error code and the duration. Bodies, headers, tickets,
 * sessions, tokens and key material never reach it.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { Caller } from "../auth/caller.js";
import type { AppEnv } from "../http/context.js";
import { describeError } from "../http/errors.js";
import type { RequestRecord, ServiceMetrics } from "./metrics.js";

/** What a handler knows about its answer that route, status and error code cannot say. */
export interface Outcome {
  source?: "ticket" | "store";
  renew?: boolean;
  single_use?: boolean;
}

declare module "hono" {
  interface ContextVariableMap {
    outcome: Outcome;
  }
}

/** Called by a handler to add its outcome to the request's record: one property set, no I/O. */
export function noteOutcome(c: Context, outcome: Outcome): void {
  c.set("outcome", outcome);
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The pattern of the route that matched (a handler, not a middleware), or "unmatched". */
export function routePattern(c: Context): string {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    // Middleware is registered with app.use, whose method is ALL; handlers name theirs.
    if (routes[i]!.method !== "ALL") return routes[i]!.path;
  }
  return "unmatched";
}

/** The stable code of the error the answer reports (thrown errors, and the not-found handler's). */
export function errorCode(c: Context): string | undefined {
  return c.error ? describeError(c.error).body.error.code : undefined;
}

/**
 * Column layout of the Analytics Engine dataset (docs/deploy.md queries it):
 * index1 context; blob1 route, blob2 method, blob3 status, blob4 context,
 * blob5 error code, blob6 source of an opened session (ticket or store),
 * blob7 "renew" when the ticket should be replaced, blob8 "single_use" when
 * a single-use ticket was used up; double1 duration_ms, double2 status.
 */
export function dataPoint(r: RequestRecord): AnalyticsEngineDataPoint {
  return {
    indexes: [r.context ?? ""],
    blobs: [r.route, r.method, String(r.status), r.context ?? "", r.code ?? "", r.source ?? "", r.renew ? "renew" : "", r.single_use && r.status < 400 ? "single_use" : ""],
    doubles: [r.duration_ms, r.status],
  };
}

export interface RequestLogOptions {
  metrics: ServiceMetrics;
  /** Milliseconds since the epoch (the app's clock). */
  clock: () => number;
  /** Where lines go; console.log in production. */
  write?: (line: string) => void;
}

export function requestLog(options: RequestLogOptions): MiddlewareHandler<AppEnv> {
  const { metrics, clock } = options;
  const write = options.write ?? ((line: string) => console.log(line));
  return async (c, next) => {
    const start = performance.now();
    await next();
    const caller = c.get("caller") as Caller | undefined;
    const outcome = c.get("outcome") as Outcome | undefined;
    const record: RequestRecord = {
      route: routePattern(c),
      method: METHODS.has(c.req.method) ? c.req.method : "OTHER",
      status: c.res.status,
      context: caller?.context,
      auth: caller?.via,
      code: errorCode(c),
      // Workers advance the clock only across I/O: this is the time spent waiting, at millisecond grain.
      duration_ms: Math.round((performance.now() - start) * 1000) / 1000,
      ...outcome,
    };
    try {
      metrics.since ??= Math.floor(clock() / 1000);
      metrics.record(record);
      c.env?.METRICS?.writeDataPoint(dataPoint(record));
      write(JSON.stringify({ level: record.status >= 500 ? "error" : "info", event: "request", ...record }));
    } catch {
      // Observability never changes an answer.
    }
  };
}
