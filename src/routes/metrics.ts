/**
 * GET /metrics (scope metrics or admin): this isolate's counters in Prometheus text
 * format. Requests, seals, opens and single use are counted by the request
 * log (src/observability/log.ts); the key ring's refreshes are read from the
 * isolate's ring reader, and the session store's OpenSSL-named counters from
 * the store itself, at scrape time.
 */
import { Hono } from "hono";
import { apiRoutes } from "../http/route.js";
import type { AppEnv } from "../http/context.js";
import { sessionStoreFamilies, type MetricFamily, type ServiceMetrics } from "../observability/metrics.js";
import type { Services } from "../services.js";

/** Made on the first scrape: random values cannot be made at global scope in Workers. */
let isolateId: string | undefined;

const gauge = (name: string, help: string, value: number, labels: Record<string, string> = {}): MetricFamily => ({
  name,
  help,
  type: "gauge",
  samples: [{ labels, value }],
});

const counter = (name: string, help: string, value: number): MetricFamily => ({
  name,
  help,
  type: "counter",
  samples: [{ labels: {}, value }],
});

/** Every context's session store counters in this isolate (the numbers GET /v1/stats shows one context of). */
function storeStats(services: Services): Map<string, Record<string, unknown>> {
  const stats = new Map<string, Record<string, unknown>>();
  for (const name of services.config.contextNames) {
    try {
      stats.set(name, services.sessions.context(name).stats());
    } catch {
      // A context whose store cannot be built has no counters to show.
    }
  }
  return stats;
}

export function metricsRoute(metrics: ServiceMetrics) {
  const app = new Hono<AppEnv>();
  apiRoutes.define(
    app,
    {
      method: "get",
      path: "/metrics",
      summary: "Counters in Prometheus text format, for this isolate (see esr_isolate_info).",
      // metrics: a scraper's token reads counters and can do nothing else.
      scope: ["metrics", "admin"],
      responses: { 200: { description: "Prometheus text exposition format 0.0.4", schema: { type: "string" }, contentType: "text/plain" } },
    },
    (c) => {
      const { services } = c.var;
      isolateId ??= crypto.randomUUID().slice(0, 8);
      const text = metrics.render([
        gauge(
          "esr_isolate_info",
          "The isolate that answered this scrape. Every counter here is that isolate's alone: successive scrapes may reach different isolates.",
          1,
          { isolate: isolateId },
        ),
        gauge("esr_counters_since_seconds", "Unix time of the first request these counters saw (the isolate's start, near enough).", metrics.since ?? services.now()),
        counter("esr_keyring_refreshes_total", "Fetches of the key ring from its Durable Object by this isolate (after cache_ttl, on an unknown key id, on rotation).", services.keyRing.refreshes),
        counter("esr_keyring_refresh_failures_total", "Key ring fetches by this isolate that failed (object unreachable, or key material that does not unwrap under MASTER_KEY).", services.keyRing.refreshFailures),
        ...sessionStoreFamilies(storeStats(services)),
      ]);
      return c.body(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
    },
  );
  return app;
}
