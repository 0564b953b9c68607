/**
 * Counters and their Prometheus text rendering (exposition format 0.0.4).
 * Pure: no bindings, no clock, no I/O. A registry lives as long as the app
 * that owns it, which in production is one isolate: the numbers are that
 * isolate's since it started, not the fleet's (Analytics Engine has those).
 */

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels: Labels;
  value: number;
}

/** One metric with its samples, ready to render. */
export interface MetricFamily {
  name: string;
  help: string;
  type: "counter" | "gauge";
  samples: readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A counter with a fixed set of label names; each combination of values is one series. */
export class Counter {
  private readonly series = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[] = [],
  ) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${name}`);
    for (const l of labelNames) if (!LABEL_NAME.test(l)) throw new Error(`invalid label name ${l}`);
  }

  inc(labels: Labels = {}, by = 1): void {
    // The key is the values in labelNames order: callers pass the same names every time.
    let key = "";
    for (const l of this.labelNames) key += `${labels[l] ?? ""}\u0000`;
    const s = this.series.get(key);
    if (s) s.value += by;
    else this.series.set(key, { labels: Object.fromEntries(this.labelNames.map((l) => [l, labels[l] ?? ""])), value: by });
  }

  /** The value of one series (0 if never incremented). */
  get(labels: Labels = {}): number {
    let key = "";
    for (const l of this.labelNames) key += `${labels[l] ?? ""}\u0000`;
    return this.series.get(key)?.value ?? 0;
  }

  family(): MetricFamily {
    return { name: this.name, help: this.help, type: "counter", samples: [...this.series.values()] };
  }
}

export class Registry {
  private readonly counters: Counter[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    if (this.counters.some((c) => c.name === name)) throw new Error(`metric ${name} registered twice`);
    const c = new Counter(name, help, labelNames);
    this.counters.push(c);
    return c;
  }

  families(): MetricFamily[] {
    return this.counters.map((c) => c.family());
  }
}

const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
const escapeLabel = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/**
 * Prometheus text format: HELP and TYPE once per family, then one line per
 * series, sorted so that two scrapes diff cleanly. A family with no samples
 * still gets its HELP and TYPE, so every metric name is discoverable.
 */
export function renderPrometheus(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (!NAME.test(f.name)) throw new Error(`invalid metric name ${f.name}`);
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    const rendered = f.samples.map((s) => {
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
        .join(",");
      return `${f.name}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`;
    });
    lines.push(...rendered.sort());
  }
  return lines.join("\n") + "\n";
}

/**
 * What the request log knows about one request: the input to the service's
 * counters, the log line and the Analytics Engine data point alike. Nothing
 * in it comes from the request's body, path parameters or headers.
 */
export interface RequestRecord {
  /** The matched route pattern (e.g. /v1/tickets/open), or "unmatched". */
  route: string;
  method: string;
  status: number;
  /** The caller's context, once its token was accepted. */
  context?: string;
  /** How the caller authenticated: "token" (API_TOKENS) or "jwt:<issuer name>" (JWT_ISSUERS); never the token or its subject. */
  auth?: string;
  /** The error code of an error answer (src/http/errors.ts). */
  code?: string;
  duration_ms: number;
  /** Set by the open route (noteOutcome): where the session came from. */
  source?: "ticket" | "store";
  /** Set by the open route: the ticket should be replaced by a fresh one. */
  renew?: boolean;
  /** Set by the open route: a single-use ticket was consumed. */
  single_use?: boolean;
}

const PER_ISOLATE = "Counted by one isolate since it started (see esr_isolate_info); sum over isolates, or use the METRICS Analytics Engine dataset for fleet-wide numbers.";

export const SEAL_ROUTE = "/v1/tickets";
export const OPEN_ROUTE = "/v1/tickets/open";

/**
 * The service's counters, all derived from RequestRecords, so route handlers
 * stay free of counting. Per isolate: see PER_ISOLATE.
 */
export class ServiceMetrics {
  /** Unix seconds of the first request these counters saw (set by the request log). */
  since: number | undefined;
  readonly registry = new Registry();
  readonly requests = this.registry.counter("esr_requests_total", `Requests answered, by route pattern, method and status. ${PER_ISOLATE}`, ["route", "method", "status"]);
  readonly errors = this.registry.counter("esr_errors_total", `Error answers, by route pattern and error code (src/http/errors.ts). ${PER_ISOLATE}`, ["route", "code"]);
  readonly seals = this.registry.counter("esr_ticket_seals_total", `Tickets sealed, by context. ${PER_ISOLATE}`, ["context"]);
  readonly opens = this.registry.counter(
    "esr_ticket_opens_total",
    `Ticket opens by context and outcome: ok (resumed from the ticket), store (the ticket's key was gone and the session store answered), or the error code. ${PER_ISOLATE}`,
    ["context", "outcome"],
  );
  readonly renewals = this.registry.counter("esr_ticket_renewals_total", `Tickets opened with renew: true (their key no longer encrypts; the caller issues a fresh ticket). ${PER_ISOLATE}`, ["context"]);
  readonly consumes = this.registry.counter("esr_single_use_consumes_total", `Single-use tickets opened for the first time fleet-wide (used up in the replay guard). ${PER_ISOLATE}`, ["context"]);
  readonly replays = this.registry.counter("esr_single_use_replays_total", `Single-use tickets refused because they were already opened (ticket_replayed). ${PER_ISOLATE}`, ["context"]);

  /** Synchronous and allocation-light: it runs once per request, after the answer is built. */
  record(r: RequestRecord): void {
    this.requests.inc({ route: r.route, method: r.method, status: String(r.status) });
    if (r.code) this.errors.inc({ route: r.route, code: r.code });
    if (r.method !== "POST" || r.context === undefined) return;
    const context = { context: r.context };
    if (r.route === SEAL_ROUTE) {
      if (r.status === 201) this.seals.inc(context);
    } else if (r.route === OPEN_ROUTE) {
      // A request refused before it was read (a bad body, a missing scope) is not a ticket open.
      if (r.status === 200) this.opens.inc({ context: r.context, outcome: r.source === "store" ? "store" : "ok" });
      else if (r.status === 422 || r.status === 503 || r.status === 500) this.opens.inc({ context: r.context, outcome: r.code ?? "unknown" });
      if (r.renew) this.renewals.inc(context);
      if (r.single_use && r.status === 200) this.consumes.inc(context);
      if (r.code === "ticket_replayed") this.replays.inc(context);
    }
  }

  render(extra: readonly MetricFamily[] = []): string {
    return renderPrometheus([...this.registry.families(), ...extra]);
  }
}

/** The session store's OpenSSL-named counters and sizes (GET /v1/stats), exported per context. */
const STORE_COUNTERS: Record<string, string> = {
  sess_hits: "Session lookups answered from either cache (SSL_CTX_sess_hits).",
  sess_misses: "Session lookups the isolate's internal cache could not answer (SSL_CTX_sess_misses).",
  sess_timeouts: "Session lookups that found only an expired session (SSL_CTX_sess_timeouts).",
  sess_cb_hits: "Session lookups answered by the external cache, KV (SSL_CTX_sess_cb_hits).",
  sess_cb_misses: "Session lookups the external cache could not answer either (this service's addition).",
  sess_cache_full: "Sessions dropped from the internal cache because it was full (SSL_CTX_sess_cache_full).",
  client_writes_coalesced: "Client-session stores kept in the isolate only, in the second of another store for the same origin (KV takes one write a second per key).",
};
const STORE_GAUGES: Record<string, string> = {
  sess_number: "Sessions in the isolate's internal cache (SSL_CTX_sess_number).",
  sess_cache_size: "Most sessions the internal cache may hold (SSL_CTX_sess_get_cache_size).",
  internal_bytes: "Bytes held by the isolate's internal cache.",
  internal_max_bytes: "Most bytes the internal cache may hold (the context's cache_bytes).",
  tombstones: "Purged session keys the isolate still hides from KV's copy (KV takes up to 60 s to show a delete everywhere).",
};

/**
 * Families for the session store's numbers, one series per context (and per
 * kind of lookup: server sessions by id, client sessions by peer). Only the
 * fields named above are exported, so a new field in the stats never makes
 * an unexpected metric name.
 */
export function sessionStoreFamilies(statsByContext: ReadonlyMap<string, Record<string, unknown>>): MetricFamily[] {
  const families = new Map<string, { help: string; type: "counter" | "gauge"; samples: Sample[] }>();
  const add = (field: string, labels: Labels, value: unknown) => {
    const counter = field in STORE_COUNTERS;
    if ((!counter && !(field in STORE_GAUGES)) || typeof value !== "number") return;
    const name = counter ? `esr_${field}_total` : `esr_${field}`;
    let f = families.get(name);
    if (!f) {
      f = { help: `${counter ? STORE_COUNTERS[field] : STORE_GAUGES[field]} ${PER_ISOLATE}`, type: counter ? "counter" : "gauge", samples: [] };
      families.set(name, f);
    }
    f.samples.push({ labels, value });
  };
  for (const [context, stats] of statsByContext) {
    const lookups = new Set(["sess_hits", "sess_misses", "sess_timeouts", "sess_cb_hits", "sess_cb_misses"]);
    for (const [field, value] of Object.entries(stats)) {
      add(field, lookups.has(field) ? { context, kind: "server" } : { context }, value);
    }
    const client = stats.client;
    if (client && typeof client === "object") {
      for (const [field, value] of Object.entries(client)) if (lookups.has(field)) add(field, { context, kind: "client" }, value);
    }
  }
  return [...families].map(([name, f]) => ({ name, ...f }));
}
