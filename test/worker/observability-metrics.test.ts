/** The counter registry and its Prometheus rendering, as pure functions. */
import { describe, expect, it } from "vitest";
import { Counter, Registry, renderPrometheus, ServiceMetrics, sessionStoreFamilies, type RequestRecord } from "../../src/observability/metrics.js";

describe("the Prometheus rendering", () => {
  it("writes HELP and TYPE once per family and one sorted line per series", () => {
    const registry = new Registry();
    const requests = registry.counter("demo_requests_total", "Requests.\nSecond line with a \\ backslash.", ["route", "status"]);
    requests.inc({ route: "/b", status: "200" });
    requests.inc({ route: "/a", status: "200" }, 2);
    requests.inc({ route: "/b", status: "200" });
    registry.counter("demo_empty_total", "Never incremented.");
    expect(renderPrometheus(registry.families())).toBe(
      [
        "# HELP demo_requests_total Requests.\\nSecond line with a \\\\ backslash.",
        "# TYPE demo_requests_total counter",
        'demo_requests_total{route="/a",status="200"} 2',
        'demo_requests_total{route="/b",status="200"} 2',
        "# HELP demo_empty_total Never incremented.",
        "# TYPE demo_empty_total counter",
        "",
      ].join("\n"),
    );
  });

  it("escapes label values and renders gauges and special values", () => {
    const text = renderPrometheus([
      { name: "demo_info", help: "h", type: "gauge", samples: [{ labels: { v: 'a"b\\c\nd' }, value: 1 }] },
      { name: "demo_odd", help: "h", type: "gauge", samples: [{ labels: {}, value: Infinity }, { labels: { x: "1" }, value: NaN }] },
    ]);
    expect(text).toContain('demo_info{v="a\\"b\\\\c\\nd"} 1\n');
    expect(text).toContain("# TYPE demo_odd gauge\n");
    expect(text).toContain("demo_odd +Inf\n");
    expect(text).toContain('demo_odd{x="1"} NaN\n');
  });

  it("refuses names Prometheus would reject", () => {
    expect(() => new Counter("bad-name", "h")).toThrow(/invalid metric name/);
    expect(() => new Counter("ok_total", "h", ["bad-label"])).toThrow(/invalid label name/);
    const registry = new Registry();
    registry.counter("twice_total", "h");
    expect(() => registry.counter("twice_total", "h")).toThrow(/twice/);
  });

  it("keys series by label values in a fixed order, whatever order the caller wrote them in", () => {
    const c = new Counter("x_total", "h", ["a", "b"]);
    c.inc({ a: "1", b: "2" });
    c.inc({ b: "2", a: "1" });
    expect(c.get({ a: "1", b: "2" })).toBe(2);
    expect(c.family().samples).toHaveLength(1);
  });
});

describe("the service's counters", () => {
  const base: RequestRecord = { route: "/v1/tickets/open", method: "POST", status: 200, context: "alpha", duration_ms: 1 };

  it("derive seals, opens by outcome, renewals, consumes and replays from request records", () => {
    const m = new ServiceMetrics();
    m.record({ ...base, route: "/v1/tickets", status: 201 });
    m.record({ ...base, route: "/v1/tickets", status: 400, code: "invalid_request" });
    m.record({ ...base, source: "ticket", renew: false });
    m.record({ ...base, source: "ticket", renew: true });
    m.record({ ...base, source: "store" });
    m.record({ ...base, source: "ticket", single_use: true });
    m.record({ ...base, status: 422, code: "ticket_replayed" });
    m.record({ ...base, status: 422, code: "ticket_expired" });
    m.record({ ...base, status: 503, code: "replay_guard_unavailable" });
    // Refused before the ticket was looked at: not an open.
    m.record({ ...base, status: 400, code: "invalid_json" });
    m.record({ ...base, status: 403, code: "forbidden" });
    m.record({ ...base, status: 401, code: "unauthorized", context: undefined });

    expect(m.seals.get({ context: "alpha" })).toBe(1);
    const opens = (outcome: string) => m.opens.get({ context: "alpha", outcome });
    expect([opens("ok"), opens("store"), opens("ticket_replayed"), opens("ticket_expired"), opens("replay_guard_unavailable")]).toEqual([3, 1, 1, 1, 1]);
    expect(opens("invalid_json") + opens("forbidden") + opens("unauthorized")).toBe(0);
    expect(m.renewals.get({ context: "alpha" })).toBe(1);
    expect(m.consumes.get({ context: "alpha" })).toBe(1);
    expect(m.replays.get({ context: "alpha" })).toBe(1);
    expect(m.requests.get({ route: "/v1/tickets/open", method: "POST", status: "422" })).toBe(2);
    expect(m.errors.get({ route: "/v1/tickets/open", code: "ticket_expired" })).toBe(1);
  });

  it("say in every HELP line that they are per isolate", () => {
    const text = new ServiceMetrics().render();
    const help = text.split("\n").filter((l) => l.startsWith("# HELP"));
    expect(help.length).toBeGreaterThanOrEqual(7);
    for (const line of help) expect(line).toMatch(/one isolate/);
  });
});

describe("the session store's numbers", () => {
  it("become counters and gauges per context and kind, and unknown fields are left out", () => {
    const stats = {
      context: "alpha",
      cache_mode: "both",
      sess_number: 3,
      sess_cache_size: 20480,
      sess_cache_full: 1,
      sess_hits: 5,
      sess_misses: 2,
      sess_timeouts: 0,
      sess_cb_hits: 1,
      sess_cb_misses: 1,
      internal_bytes: 900,
      internal_max_bytes: 8388608,
      something_new: 7,
      client: { sess_hits: 4, sess_misses: 0, sess_timeouts: 0, sess_cb_hits: 0, sess_cb_misses: 0 },
    };
    const text = renderPrometheus(sessionStoreFamilies(new Map<string, Record<string, unknown>>([["alpha", stats], ["beta", { ...stats, sess_hits: 0, client: {} }]])));
    expect(text).toContain('esr_sess_hits_total{context="alpha",kind="server"} 5\n');
    expect(text).toContain('esr_sess_hits_total{context="alpha",kind="client"} 4\n');
    expect(text).toContain('esr_sess_hits_total{context="beta",kind="server"} 0\n');
    expect(text).toContain('esr_sess_cache_full_total{context="alpha"} 1\n');
    expect(text).toContain("# TYPE esr_sess_number gauge\n");
    expect(text).toContain('esr_sess_number{context="alpha"} 3\n');
    expect(text).toContain('esr_internal_max_bytes{context="beta"} 8388608\n');
    expect(text).not.toMatch(/something_new|cache_mode|esr_context/);
    expect(text.match(/^# HELP esr_sess_hits_total/gm)).toHaveLength(1);
  });
});
