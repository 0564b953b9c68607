/**
 * GET /metrics (scope metrics or admin): this isolate's counters in Prometheus text
 * format. Requests, seals, opens and single use are counted by the request
 * log (src/observability/log.ts); the key ring's refreshes are read from the
 * isolate's ring reader, and the session store's OpenSSL-named counters from
 * the store itself, at scrape time.
 */
import { route } from "../http/route.js";
import { typed } from "../http/schema.js";
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

/** GET /metrics over this app's counters. */
export function metricsRoutes(metrics: ServiceMetrics) {
  return [
    route(
    {
      method: "get",
      path: "/metrics",
      summary: "Counters in Prometheus text format, for this isolate (see esr_isolate_info).",
      // metrics: a scraper's token reads counters and can do nothing else.
      scope: ["metrics", "admin"],
      responses: { 200: { description: "Prometheus text exposition format 0.0.4", schema: typed<string>({ type: "string" }), contentType: "text/plain" } },
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
        counter("esr_single_use_refused_from_memory_total", "Single-use opens and takes refused from this isolate's memory of used ids, without asking the replay guard.", services.replayGuard.refusedFromMemory),
        counter("esr_keyring_refreshes_total", "Refreshes of this isolate's copy of the key ring (about every cache_ttl, jittered; on a key id it may lack; on a copy with no key that may encrypt).", services.keyRing.counts.refreshes),
        counter("esr_keyring_refresh_failures_total", "Refreshes of the ring copy that failed (no usable ring in the read tier and the object unreachable or backing off).", services.keyRing.counts.refreshFailures),
        counter("esr_keyring_tier_reads_total", "Reads of the ring's read tier (the location's cache, then KV) by this isolate.", services.keyRing.counts.tierReads),
        counter("esr_keyring_object_fetches_total", "Requests to the ring's Durable Object by this isolate: only when the read tier held no ring it could use.", services.keyRing.counts.objectFetches),
        counter("esr_keyring_object_failures_total", "Requests to the ring's Durable Object that failed (then backed off, exponentially with jitter).", services.keyRing.counts.objectFailures),
        {
          name: "esr_keyring_unknown_key_ids_total",
          help: `Tickets naming a key id this isolate's copy did not know: looked up at the tier (the copy could lack a live key) or ignored (known revoked or destroyed, or the copy cannot lack one). ${"Counts this isolate only."}`,
          type: "counter" as const,
          samples: [
            { labels: { outcome: "lookup" }, value: services.keyRing.counts.unknownIdLookups },
            { labels: { outcome: "ignored" }, value: services.keyRing.counts.unknownIdsIgnored },
          ],
        },
        ...sessionStoreFamilies(storeStats(services)),
      ]);
      return c.body(text, 200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
    },
    ),
  ];
}
