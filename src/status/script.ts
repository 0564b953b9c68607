/**
 * The status page's script, as text: it runs in the operator's browser, not
 * in the Worker. Plain ES2020 and DOM, no framework, nothing loaded from
 * elsewhere; the Content-Security-Policy allows exactly this text (by hash)
 * and fetches to the page's own origin.
 *
 * The token the operator types stays in this tab's sessionStorage and goes
 * only into Authorization headers of same-origin fetches.
 */
export const STATUS_SCRIPT = String.raw`
"use strict";
const TOKEN_KEY = "esr.status.token";
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

/** One same-origin call: {status, body}, body parsed as JSON when it is JSON. */
async function api(path) {
  const t = token();
  const res = await fetch(path, { cache: "no-store", headers: t ? { authorization: "Bearer " + t } : {} });
  const isJson = (res.headers.get("content-type") || "").includes("json");
  return { status: res.status, body: isJson ? await res.json() : await res.text() };
}

function el(name, attrs, text) {
  const e = name.startsWith("svg:") ? document.createElementNS(SVG_NS, name.slice(4)) : document.createElement(name);
  for (const k in attrs || {}) e.setAttribute(k, String(attrs[k]));
  if (text !== undefined) e.textContent = text;
  return e;
}

const iso = (t) => new Date(t * 1000).toISOString().replace(".000Z", "Z");
const hhmm = (t) => iso(t).slice(11, 16);

function say(id, text, kind) {
  const p = $(id);
  p.textContent = text;
  p.className = kind || "";
}

/* ---- The key ring as a timeline ---- */

const STATES = ["pending", "active", "retiring"];
const TICK_STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];

/**
 * One row per key: its bar runs from published_at to expires_at, in three
 * segments (pending, active, retiring) colored by state; a line marks now.
 */
function drawTimeline(svg, ring) {
  const keys = ring.keys, now = ring.now;
  const W = 960, LEFT = 215, RIGHT = 20, TOP = 40, ROW = 34, BAR = 20;
  const first = Math.min(now, ...keys.map((k) => k.published_at));
  const end = Math.max(now + 60, ...keys.map((k) => k.expires_at));
  const start = first - (end - first) * 0.02; // a margin, so that "now" is not on the edge
  const x = (t) => LEFT + ((t - start) / (end - start)) * (W - LEFT - RIGHT);
  const H = TOP + keys.length * ROW + 10;
  svg.setAttribute("viewBox", "0 0 " + W + " " + H);
  svg.replaceChildren();

  // Time axis: a handful of UTC ticks at a round step.
  const step = TICK_STEPS.find((s) => (end - start) / s <= 8) || 604800;
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    svg.append(el("svg:line", { x1: x(t), x2: x(t), y1: TOP - 14, y2: H, class: "tick" }));
    svg.append(el("svg:text", { x: x(t), y: TOP - 18, class: "tick-label" }, hhmm(t)));
  }

  keys.forEach((k, i) => {
    const y = TOP + i * ROW;
    const row = el("svg:g", { class: "key " + k.state, "data-key-id": k.id, "data-state": k.state });
    row.append(el("svg:text", { x: 8, y: y + BAR - 5, class: "key-label" }, "key " + k.id + " \u00b7 " + k.state));
    const bounds = [k.published_at, k.activates_at, k.deactivates_at, k.expires_at];
    STATES.forEach((state, s) => {
      const from = bounds[s], to = bounds[s + 1];
      if (to <= from) return;
      const seg = el("svg:rect", { x: x(from), y: y + 2, width: Math.max(1, x(to) - x(from)), height: BAR, rx: 3, class: "seg " + state });
      seg.append(el("svg:title", {}, "key " + k.id + " " + state + ": " + iso(from) + " to " + iso(to)));
      row.append(seg);
    });
    svg.append(row);
  });

  const nx = x(now);
  svg.append(el("svg:line", { id: "now-marker", x1: nx, x2: nx, y1: TOP - 14, y2: H, class: "now", "data-now": now }));
  svg.append(el("svg:text", { x: nx + 4, y: TOP - 4, class: "now-label" }, "now " + hhmm(now)));
}

async function showRing() {
  const res = await api("/v1/keys");
  if (res.status !== 200) {
    $("timeline").replaceChildren();
    say("ring-status", res.status === 401 ? "Enter a token with scope keys to see the key ring." : res.status === 403 ? "This token lacks the keys scope." : "GET /v1/keys answered " + res.status + ".", "warn");
    return;
  }
  const ring = res.body, s = ring.settings;
  drawTimeline($("timeline"), ring);
  say(
    "ring-status",
    ring.keys.length + " keys at " + iso(ring.now) + ". A key encrypts for " + s.rotation_period + " s, is published " + s.prepublish_lead +
      " s ahead and decrypts " + s.max_ticket_lifetime + " s longer; each isolate re-reads the ring every " + s.cache_ttl + " s.",
  );
}

/* ---- Counters: this isolate's /metrics, and the session store's /v1/stats ---- */

/** Prometheus text to [{name, labels, value}]. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const total = (samples, name, keep) =>
  samples.filter((s) => s.name === name && (!keep || keep(s.labels))).reduce((a, s) => a + s.value, 0);

const percent = (part, whole) => (whole > 0 ? ((100 * part) / whole).toFixed(1) + " %" : "no lookups yet");

function fillTable(id, rows) {
  const body = $(id);
  body.replaceChildren(...rows.map(([name, value]) => {
    const tr = el("tr");
    tr.append(el("th", { scope: "row" }, name), el("td", {}, String(value)));
    return tr;
  }));
}

async function showCounters() {
  const res = await api("/metrics");
  if (res.status !== 200) {
    fillTable("ticket-counters", []);
    say("ticket-status", res.status === 401 || res.status === 403 ? "Counters need a token with scope metrics or admin." : "GET /metrics answered " + res.status + ".", "warn");
    return;
  }
  const m = parseMetrics(res.body);
  const opens = total(m, "esr_ticket_opens_total");
  const ok = total(m, "esr_ticket_opens_total", (l) => l.outcome === "ok");
  const store = total(m, "esr_ticket_opens_total", (l) => l.outcome === "store");
  const refused = {};
  for (const s of m) if (s.name === "esr_ticket_opens_total" && s.labels.outcome !== "ok" && s.labels.outcome !== "store") {
    refused[s.labels.outcome] = (refused[s.labels.outcome] || 0) + s.value;
  }
  const isolate = (m.find((s) => s.name === "esr_isolate_info") || { labels: {} }).labels.isolate;
  const since = total(m, "esr_counters_since_seconds");
  fillTable("ticket-counters", [
    ["tickets sealed", total(m, "esr_ticket_seals_total")],
    ["tickets opened", opens],
    ["resumed from the ticket", ok],
    ["resumed from the session store", store],
    ["resumption ratio", percent(ok + store, opens)],
    ...Object.keys(refused).sort().map((code) => ["refused: " + code, refused[code]]),
    ["renewals (key no longer encrypts)", total(m, "esr_ticket_renewals_total")],
    ["single-use consumed / replays refused", total(m, "esr_single_use_consumes_total") + " / " + total(m, "esr_single_use_replays_total")],
    ["key ring refreshes / failures", total(m, "esr_keyring_refreshes_total") + " / " + total(m, "esr_keyring_refresh_failures_total")],
    ["requests / error answers", total(m, "esr_requests_total") + " / " + total(m, "esr_errors_total")],
  ]);
  say("ticket-status", "Counted by one isolate (" + isolate + ") since " + (since ? iso(since) : "its start") + "; another refresh may reach another isolate.");
  return m;
}

/** Every numeric field of the stats answer, flattened to dotted names. */
function numbers(value, prefix, out) {
  if (typeof value === "number") out.push([prefix, value]);
  else if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const k of Object.keys(value)) numbers(value[k], prefix ? prefix + "." + k : k, out);
  }
  return out;
}

/**
 * Hit ratios from OpenSSL's counters. Every lookup ends as an internal hit
 * (sess_hits), an external hit (sess_cb_hits, also in sess_hits) or a miss
 * of both (sess_cb_misses); sess_misses counts internal misses.
 */
function hitRatios(c, label) {
  if (typeof c.sess_hits !== "number" || typeof c.sess_cb_misses !== "number") return [];
  const rows = [[label + "hit ratio (either cache)", percent(c.sess_hits, c.sess_hits + c.sess_cb_misses)]];
  if (typeof c.sess_cb_hits === "number") {
    const internalHits = c.sess_hits - c.sess_cb_hits;
    if (typeof c.sess_misses === "number") rows.push([label + "internal cache hit ratio", percent(internalHits, internalHits + c.sess_misses)]);
    rows.push([label + "external cache (KV) hit ratio", percent(c.sess_cb_hits, c.sess_cb_hits + c.sess_cb_misses)]);
  }
  return rows;
}

async function showSessions() {
  const res = await api("/v1/stats");
  if (res.status === 404) {
    fillTable("session-counters", []);
    say("session-status", "Session statistics are not available on this deployment (GET /v1/stats answered 404).", "warn");
    return;
  }
  if (res.status !== 200) {
    fillTable("session-counters", []);
    say("session-status", res.status === 401 || res.status === 403 ? "Session statistics need a token with scope metrics or admin." : "GET /v1/stats answered " + res.status + ".", "warn");
    return;
  }
  const stats = res.body || {};
  const rows = numbers(stats, "", []).filter(([name]) => name !== "now");
  const client = stats.client || {};
  // Client sessions (by peer) only when the context has had any.
  const clientRatios = client.sess_hits + client.sess_cb_misses > 0 ? hitRatios(client, "client sessions: ") : [];
  fillTable("session-counters", [...hitRatios(stats, ""), ...clientRatios, ...rows]);
  const about = [stats.context && "context " + stats.context, stats.cache_mode && "cache_mode " + stats.cache_mode].filter(Boolean).join(", ");
  say("session-status", "From GET /v1/stats" + (about ? " (" + about + ")" : "") + ": this isolate's counters, by OpenSSL's names.");
}

/* ---- Wiring ---- */

async function refresh() {
  const health = await api("/healthz").catch(() => ({ status: 0 }));
  say("health", health.status === 200 ? "Service answers /healthz." : "Service health check failed (" + health.status + ").", health.status === 200 ? "ok" : "warn");
  $("token-state").textContent = token() ? "A token is set for this tab." : "No token set.";
  await Promise.all([showRing(), showCounters(), showSessions()].map((p) => p.catch((e) => console.warn(e))));
  document.body.setAttribute("data-updated", String(Date.now()));
  $("updated").textContent = "Updated " + iso(Math.floor(Date.now() / 1000));
}

$("auth").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  $("token").value = "";
  refresh();
});
$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  refresh();
});
$("refresh").addEventListener("click", () => refresh());

refresh();
setInterval(refresh, 30000);
`;
