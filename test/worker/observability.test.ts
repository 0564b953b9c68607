/**
 * The request log and GET /metrics, through the app as a location sees it:
 * one JSON line per request with the route pattern and the error code,
 * nothing secret in any line, and counters derived from the same records.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env.js";
import { TEST_MASTER_KEY } from "./fixtures.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

/** Captures every console line the worker writes (log, warn, error) while it runs. */
function captureConsole() {
  const lines: string[] = [];
  for (const level of ["log", "info", "warn", "error"] as const) {
    vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
  }
  return {
    lines,
    /** The request lines, parsed. */
    requests: () => lines.filter((l) => l.includes('"event":"request"')).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

const seal = (loc: Location, body: object = { session: TLS12_SESSION }) => loc.json("POST", "/v1/tickets", { token: "alpha-tickets", body });
const open = (loc: Location, ticket: string) => loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket } });

/** Prometheus text to a map from `name{labels}` to value. */
async function scrape(loc: Location, token = "alpha-all"): Promise<Map<string, number>> {
  const res = await loc.call("GET", "/metrics", { token });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    const m = /^(\S+) (\S+)$/.exec(line);
    if (m && !line.startsWith("#")) samples.set(m[1]!, Number(m[2]));
  }
  return samples;
}

describe("the request log", () => {
  it("writes one line per request, with the error code of a failing one", async () => {
    const out = captureConsole();
    const loc = location();
    const refused = await open(loc, "AQ" + "A".repeat(40));
    expect(refused.status).toBe(422);
    const [line, ...rest] = out.requests();
    expect(rest).toEqual([]);
    expect(line).toMatchObject({
      level: "info",
      event: "request",
      route: "/v1/tickets/open",
      method: "POST",
      status: 422,
      context: "alpha",
      code: refused.body.error.code,
    });
    expect(typeof line!.duration_ms).toBe("number");
  });

  it("logs refusals before auth, unknown routes and successes with the right code or none", async () => {
    const out = captureConsole();
    const loc = location();
    await loc.call("GET", "/v1/keys");
    await loc.call("GET", "/v1/keys", { token: "alpha-tickets" });
    await loc.call("GET", "/v1/sessions/0123456789abcdef0123456789abcdef", { token: "alpha-all" });
    await loc.call("GET", "/healthz");
    await seal(loc);
    expect(out.requests().map(({ route, status, code, context }) => ({ route, status, code, context }))).toEqual([
      { route: "/v1/keys", status: 401, code: "unauthorized", context: undefined },
      { route: "/v1/keys", status: 403, code: "forbidden", context: "alpha" },
      // A path that may carry a session id is never logged as such: only a route pattern is.
      expect.objectContaining({ route: expect.not.stringContaining("0123456789abcdef") }),
      { route: "/healthz", status: 200, code: undefined, context: undefined },
      { route: "/v1/tickets", status: 201, code: undefined, context: "alpha" },
    ]);
  });

  it("never writes a token, a ticket, a session id, a master secret or key material", async () => {
    const out = captureConsole();
    const loc = location();
    const sealed = await loc.json("POST", "/v1/tickets", { token: "alpha-all", body: { session: TLS12_SESSION, single_use: true, store: true } });
    expect(sealed.status).toBe(201);
    const { ticket, session_id } = sealed.body as { ticket: string; session_id: string };
    expect((await loc.json("POST", "/v1/tickets/open", { token: "alpha-all", body: { ticket } })).status).toBe(200);
    expect((await loc.json("POST", "/v1/tickets/open", { token: "alpha-all", body: { ticket } })).body.error.code).toBe("ticket_replayed");
    await loc.json("POST", "/v1/tickets/open", { token: "alpha-all", body: { ticket: ticket.slice(0, -4) + "AAAA" } });
    await loc.call("GET", "/v1/keys", { token: "alpha-all" });
    await loc.call("POST", "/v1/keys/rotate", { token: "alpha-all" });
    await loc.call("GET", "/metrics", { token: "alpha-all" });
    await loc.call("GET", "/v1/keys", { token: "not-a-valid-token-but-secret-looking" });
    await loc.call("GET", `/v1/sessions/${session_id}`, { token: "alpha-all" });

    expect(out.requests()).toHaveLength(9);
    const all = out.lines.join("\n");
    for (const secret of [
      "alpha-all",
      "not-a-valid-token-but-secret-looking",
      ticket,
      ticket.slice(0, 24),
      session_id,
      TLS12_SESSION.master_secret,
      TLS12_SESSION.server_name,
      TEST_MASTER_KEY,
    ]) {
      expect(all).not.toContain(secret);
    }
    // Every line is one JSON object with only the record's fields.
    const allowed = new Set(["level", "event", "route", "method", "status", "context", "auth", "code", "duration_ms", "source", "renew", "single_use"]);
    for (const line of out.requests()) for (const key of Object.keys(line)) expect(allowed).toContain(key);
  });
});

describe("GET /metrics", () => {
  it("needs the metrics or the admin scope", async () => {
    const loc = location();
    expect((await loc.call("GET", "/metrics")).status).toBe(401);
    expect((await loc.json("GET", "/metrics", { token: "alpha-keys" })).body.error.code).toBe("forbidden");
    expect((await loc.call("GET", "/metrics", { token: "alpha-all" })).status).toBe(200);
  });

  it("a metrics token reads the counters and can do nothing else", async () => {
    const loc = location();
    const metrics = await loc.call("GET", "/metrics", { token: "alpha-metrics" });
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain("esr_isolate_info");
    const stats = await loc.json("GET", "/v1/stats", { token: "alpha-metrics" });
    expect([stats.status, stats.body.context]).toEqual([200, "alpha"]);
    const refused: [string, string, object?][] = [
      ["GET", "/v1/keys"],
      ["POST", "/v1/keys/rotate", {}],
      ["GET", "/v1/keys/export"],
      ["POST", "/v1/sessions/flush", {}],
      ["POST", "/v1/tickets", { session: TLS12_SESSION }],
      ["GET", `/v1/sessions/${"ab".repeat(16)}`],
    ];
    for (const [method, path, body] of refused) {
      const res = await loc.json(method, path, { token: "alpha-metrics", ...(body && { body }) });
      expect([path, res.status, res.body.error.code]).toEqual([path, 403, "forbidden"]);
    }
  });

  it("counts requests, seals, opens by outcome, renewals, single use and ring refreshes", async () => {
    const loc = location();
    const first = await seal(loc);
    await seal(loc);
    const once = await seal(loc, { session: TLS12_SESSION, single_use: true });
    expect((await open(loc, first.body.ticket)).status).toBe(200);
    expect((await open(loc, once.body.ticket)).status).toBe(200);
    expect((await open(loc, once.body.ticket)).body.error.code).toBe("ticket_replayed");
    expect((await open(loc, "AQ" + "A".repeat(40))).status).toBe(422);
    // Past the first key's window: its ticket still opens, and asks to be renewed.
    const keys = (await loc.json("GET", "/v1/keys", { token: "alpha-keys" })).body.keys as { deactivates_at: number }[];
    loc.now = keys[0]!.deactivates_at + 1;
    const late = await open(loc, first.body.ticket);
    expect([late.status, late.body.renew]).toEqual([200, true]);
    loc.now = T0 + 100_000;
    expect((await open(loc, first.body.ticket)).status).toBe(422);

    const m = await scrape(loc);
    expect(m.get('esr_ticket_seals_total{context="alpha"}')).toBe(3);
    expect(m.get('esr_ticket_opens_total{context="alpha",outcome="ok"}')).toBe(3);
    expect(m.get('esr_ticket_opens_total{context="alpha",outcome="ticket_replayed"}')).toBe(1);
    expect(m.get('esr_ticket_renewals_total{context="alpha"}')).toBe(1);
    expect(m.get('esr_single_use_consumes_total{context="alpha"}')).toBe(1);
    expect(m.get('esr_single_use_replays_total{context="alpha"}')).toBe(1);
    expect(m.get('esr_requests_total{route="/v1/tickets",method="POST",status="201"}')).toBe(3);
    expect(m.get('esr_requests_total{route="/v1/tickets/open",method="POST",status="422"}')).toBe(3);
    expect(m.get('esr_errors_total{route="/v1/tickets/open",code="ticket_replayed"}')).toBe(1);
    expect(m.get("esr_keyring_refreshes_total")).toBeGreaterThanOrEqual(2);
    expect(m.get("esr_keyring_refresh_failures_total")).toBe(0);
    expect([...m.keys()].some((k) => /^esr_isolate_info\{isolate="[0-9a-f]{8}"\}$/.test(k))).toBe(true);
    expect(m.get("esr_counters_since_seconds")).toBe(T0);
    // The session store's own counters, per context.
    expect(m.get('esr_sess_hits_total{context="alpha",kind="server"}')).toBe(0);
    expect(m.get('esr_sess_number{context="beta"}')).toBe(0);
  });

  it("counts an open answered by the ticket's stored copy after a revoke as outcome store", async () => {
    const loc = location();
    const sealed = await seal(loc, { session: TLS12_SESSION, store: true });
    expect(sealed.status).toBe(201);
    expect((await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } })).status).toBe(200);
    const opened = await open(loc, sealed.body.ticket);
    expect([opened.status, opened.body.source]).toEqual([200, "store"]);
    const m = await scrape(loc);
    expect(m.get('esr_ticket_opens_total{context="alpha",outcome="store"}')).toBe(1);
    expect(m.get('esr_ticket_renewals_total{context="alpha"}')).toBe(1);
    // A ticket's copy is not in the session-id cache: OpenSSL's counters of that cache did not move.
    expect(m.get('esr_sess_hits_total{context="alpha",kind="server"}') ?? 0).toBe(0);
  });

  it("counts ring refresh failures", async () => {
    const down = {
      idFromName: (name: string) => env.KEY_RING.idFromName(name),
      get: () => ({ getRing: () => Promise.reject(new Error("Durable Object unreachable")) }),
    } as unknown as Env["KEY_RING"];
    const loc = location(T0, { env: { KEY_RING: down } });
    expect((await seal(loc)).body.error.code).toBe("keyring_unavailable");
    const m = await scrape(loc);
    expect(m.get("esr_keyring_refresh_failures_total")).toBe(1);
    expect(m.get('esr_errors_total{route="/v1/tickets",code="keyring_unavailable"}')).toBe(1);
  });

  it("keeps each location's (isolate's) counters to itself", async () => {
    const a = location();
    const b = location();
    await seal(a);
    expect((await scrape(a)).get('esr_ticket_seals_total{context="alpha"}')).toBe(1);
    expect((await scrape(b)).get('esr_ticket_seals_total{context="alpha"}')).toBeUndefined();
  });
});

describe("the METRICS Analytics Engine binding", () => {
  it("gets one data point per request when configured, and is optional", async () => {
    const points: AnalyticsEngineDataPoint[] = [];
    const loc = location(T0, { env: { METRICS: { writeDataPoint: (p?: AnalyticsEngineDataPoint) => void points.push(p!) } } });
    await seal(loc);
    await open(loc, "AQ" + "A".repeat(40));
    await loc.call("GET", "/nowhere");
    const once = await seal(loc, { session: TLS12_SESSION, single_use: true });
    await open(loc, once.body.ticket);
    expect(points.map((p) => p.blobs)).toEqual([
      ["/v1/tickets", "POST", "201", "alpha", "", "", "", ""],
      ["/v1/tickets/open", "POST", "422", "alpha", expect.stringMatching(/^ticket_|^key_unknown$/), "", "", ""],
      ["unmatched", "GET", "404", "", "not_found", "", "", ""],
      ["/v1/tickets", "POST", "201", "alpha", "", "", "", ""],
      ["/v1/tickets/open", "POST", "200", "alpha", "", "ticket", "", "single_use"],
    ]);
    expect(points[0]!.indexes).toEqual(["alpha"]);
    expect(points[0]!.doubles).toEqual([expect.any(Number), 201]);
    // Without the binding nothing fails.
    expect((await seal(location())).status).toBe(201);
  });

  it("never fails a request when the dataset throws", async () => {
    const loc = location(T0, { env: { METRICS: { writeDataPoint: () => { throw new Error("quota"); } } } });
    expect((await seal(loc)).status).toBe(201);
  });
});
