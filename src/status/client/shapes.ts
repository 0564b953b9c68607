/**
 * What the status page reads from the service and from its own HTML, as
 * types and names that need no DOM, so the Worker's side can import them too:
 * test/worker/status.test.ts checks that GET /v1/keys's type satisfies
 * KeyRingView, that GET /metrics names every metric in STATUS_METRICS and
 * that the page has an element for every id in PAGE_IDS. Neither side can
 * drift from the other unnoticed.
 *
 * No DOM types here, and no imports: this file is compiled both by
 * src/status/client/tsconfig.json (DOM) and by the root tsconfig.json
 * (Workers).
 */

/** One key of GET /v1/keys, as the timeline draws it (unix seconds). */
export interface KeyView {
  id: number;
  state: string;
  published_at: number;
  activates_at: number;
  deactivates_at: number;
  expires_at: number;
}

/** GET /v1/keys, the fields the page reads. */
export interface KeyRingView {
  now: number;
  keys: readonly KeyView[];
  settings: { rotation_period: number; prepublish_lead: number; max_ticket_lifetime: number; cache_ttl: number };
}

/** The metrics the page reads from GET /metrics (src/observability/metrics.ts, src/routes/metrics.ts). */
export const STATUS_METRICS = [
  "esr_ticket_seals_total",
  "esr_ticket_opens_total",
  "esr_ticket_renewals_total",
  "esr_single_use_consumes_total",
  "esr_single_use_replays_total",
  "esr_keyring_refreshes_total",
  "esr_keyring_refresh_failures_total",
  "esr_requests_total",
  "esr_errors_total",
  "esr_isolate_info",
  "esr_counters_since_seconds",
] as const;

export type StatusMetric = (typeof STATUS_METRICS)[number];

/** Every element the script looks up by id in the page (src/status/page.ts); dom.ts says which kind each one is. */
export const PAGE_IDS = [
  "health",
  "updated",
  "auth",
  "token",
  "forget",
  "refresh",
  "token-state",
  "ring-status",
  "timeline",
  "ticket-status",
  "ticket-counters",
  "session-status",
  "session-counters",
] as const;

export type PageId = (typeof PAGE_IDS)[number];
