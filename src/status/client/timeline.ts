/** The key ring (GET /v1/keys) as a timeline: one row per key, a line at now. */
import { api } from "./api.js";
import { byId, say, svg } from "./dom.js";
import { hhmm, iso } from "./format.js";
import type { KeyRingView } from "./shapes.js";

/** Tick spacings the axis may use, in seconds; the first that gives at most 8 ticks wins, else a week. */
const TICK_STEPS = [60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800];

/**
 * One row per key: its bar runs from published_at to expires_at, in three
 * segments (pending, active, retiring) colored by state; a line marks now.
 */
export function drawTimeline(target: SVGSVGElement, ring: KeyRingView): void {
  const { keys, now } = ring;
  const W = 960, LEFT = 215, RIGHT = 20, TOP = 40, ROW = 34, BAR = 20;
  const first = Math.min(now, ...keys.map((k) => k.published_at));
  const end = Math.max(now + 60, ...keys.map((k) => k.expires_at));
  const start = first - (end - first) * 0.02; // a margin, so that "now" is not on the edge
  const x = (t: number) => LEFT + ((t - start) / (end - start)) * (W - LEFT - RIGHT);
  const H = TOP + keys.length * ROW + 10;
  target.setAttribute("viewBox", `0 0 ${W} ${H}`);
  target.replaceChildren();

  // Time axis: a handful of UTC ticks at a round step.
  const step = TICK_STEPS.find((s) => (end - start) / s <= 8) ?? 604800;
  for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
    target.append(svg("line", { x1: x(t), x2: x(t), y1: TOP - 14, y2: H, class: "tick" }));
    target.append(svg("text", { x: x(t), y: TOP - 18, class: "tick-label" }, hhmm(t)));
  }

  keys.forEach((k, i) => {
    const y = TOP + i * ROW;
    const row = svg("g", { class: "key " + k.state, "data-key-id": k.id, "data-state": k.state });
    row.append(svg("text", { x: 8, y: y + BAR - 5, class: "key-label" }, `key ${k.id} \u00b7 ${k.state}`));
    // A key's life in order; a segment may be empty (a key revoked early, or published already active).
    const segments = [
      ["pending", k.published_at, k.activates_at],
      ["active", k.activates_at, k.deactivates_at],
      ["retiring", k.deactivates_at, k.expires_at],
    ] as const;
    for (const [state, from, to] of segments) {
      if (to <= from) continue;
      const seg = svg("rect", { x: x(from), y: y + 2, width: Math.max(1, x(to) - x(from)), height: BAR, rx: 3, class: "seg " + state });
      seg.append(svg("title", {}, `key ${k.id} ${state}: ${iso(from)} to ${iso(to)}`));
      row.append(seg);
    }
    target.append(row);
  });

  const nx = x(now);
  target.append(svg("line", { id: "now-marker", x1: nx, x2: nx, y1: TOP - 14, y2: H, class: "now", "data-now": now }));
  target.append(svg("text", { x: nx + 4, y: TOP - 4, class: "now-label" }, "now " + hhmm(now)));
}

export async function showRing(): Promise<void> {
  const res = await api("/v1/keys");
  if (res.status !== 200) {
    byId("timeline").replaceChildren();
    const why =
      res.status === 401 ? "Enter a token with scope keys to see the key ring." : res.status === 403 ? "This token lacks the keys scope." : `GET /v1/keys answered ${res.status}.`;
    say("ring-status", why, "warn");
    return;
  }
  // The service's own answer (test/worker/status.test.ts checks its type against KeyRingView).
  const ring = res.body as KeyRingView;
  const s = ring.settings;
  drawTimeline(byId("timeline"), ring);
  say(
    "ring-status",
    `${ring.keys.length} keys at ${iso(ring.now)}. A key encrypts for ${s.rotation_period} s, is published ${s.prepublish_lead}` +
      ` s ahead and decrypts ${s.max_ticket_lifetime} s longer; each isolate re-reads the ring every ${s.cache_ttl} s.`,
  );
}
