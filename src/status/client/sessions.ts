/** The session store's counters (GET /v1/stats), by OpenSSL's names, with the hit ratios they imply. */
import { api } from "./api.js";
import { fillTable, say } from "./dom.js";
import { percent } from "./format.js";

type Row = readonly [string, string | number];
type Counters = Record<string, unknown>;

const isObject = (v: unknown): v is Counters => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every numeric field of the stats answer, flattened to dotted names. */
function numbers(value: unknown, prefix: string, out: [string, number][] = []): [string, number][] {
  if (typeof value === "number") out.push([prefix, value]);
  else if (isObject(value)) {
    for (const k of Object.keys(value)) numbers(value[k], prefix ? prefix + "." + k : k, out);
  }
  return out;
}

/**
 * Hit ratios from OpenSSL's counters. Every lookup ends as an internal hit
 * (sess_hits), an external hit (sess_cb_hits, also in sess_hits) or a miss
 * of both (sess_cb_misses); sess_misses counts internal misses.
 */
function hitRatios(c: Counters, label: string): Row[] {
  const { sess_hits: hits, sess_cb_hits: cbHits, sess_cb_misses: cbMisses, sess_misses: misses } = c;
  if (typeof hits !== "number" || typeof cbMisses !== "number") return [];
  const rows: Row[] = [[label + "hit ratio (either cache)", percent(hits, hits + cbMisses)]];
  if (typeof cbHits === "number") {
    const internalHits = hits - cbHits;
    if (typeof misses === "number") rows.push([label + "internal cache hit ratio", percent(internalHits, internalHits + misses)]);
    rows.push([label + "external cache (KV) hit ratio", percent(cbHits, cbHits + cbMisses)]);
  }
  return rows;
}

/** Whether a context's client sessions (by peer) have been looked up at all. */
const hadLookups = (c: Counters): boolean => typeof c.sess_hits === "number" && typeof c.sess_cb_misses === "number" && c.sess_hits + c.sess_cb_misses > 0;

export async function showSessions(): Promise<void> {
  const res = await api("/v1/stats");
  if (res.status === 404) {
    fillTable("session-counters", []);
    say("session-status", "Session statistics are not available on this deployment (GET /v1/stats answered 404).", "warn");
    return;
  }
  if (res.status !== 200) {
    fillTable("session-counters", []);
    const why = res.status === 401 || res.status === 403 ? "Session statistics need a token with scope metrics or admin." : `GET /v1/stats answered ${res.status}.`;
    say("session-status", why, "warn");
    return;
  }
  const stats = isObject(res.body) ? res.body : {};
  const rows = numbers(stats, "").filter(([name]) => name !== "now");
  const client = isObject(stats.client) ? stats.client : {};
  // Client sessions (by peer) only when the context has had any.
  const clientRatios = hadLookups(client) ? hitRatios(client, "client sessions: ") : [];
  fillTable("session-counters", [...hitRatios(stats, ""), ...clientRatios, ...rows]);
  const about = [
    typeof stats.context === "string" && `context ${stats.context}`,
    typeof stats.cache_mode === "string" && `cache_mode ${stats.cache_mode}`,
  ]
    .filter(Boolean)
    .join(", ");
  say("session-status", `From GET /v1/stats${about ? ` (${about})` : ""}: this isolate's counters, by OpenSSL's names.`);
}
