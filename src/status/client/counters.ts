/** Ticket counters: this isolate's GET /metrics (Prometheus text), summed the way an operator reads them. */
import { api } from "./api.js";
import { fillTable, say } from "./dom.js";
import { iso, percent } from "./format.js";
import type { StatusMetric } from "./shapes.js";

export interface MetricSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text to samples; comments and anything else that is not a sample line are skipped. */
export function parseMetrics(text: string): MetricSample[] {
  const out: MetricSample[] = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, "$1");
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of a metric's series, or of those whose labels pass `keep`. */
const total = (samples: readonly MetricSample[], name: StatusMetric, keep?: (labels: Record<string, string>) => boolean): number =>
  samples.filter((s) => s.name === name && (!keep || keep(s.labels))).reduce((a, s) => a + s.value, 0);

/** Opens that neither the ticket nor the store answered, by error code. */
function refusals(samples: readonly MetricSample[]): Record<string, number> {
  const refused: Record<string, number> = {};
  for (const s of samples) {
    const outcome = s.labels.outcome;
    if (s.name === "esr_ticket_opens_total" && outcome !== undefined && outcome !== "ok" && outcome !== "store") {
      refused[outcome] = (refused[outcome] ?? 0) + s.value;
    }
  }
  return refused;
}

export async function showCounters(): Promise<void> {
  const res = await api("/metrics");
  if (res.status !== 200) {
    fillTable("ticket-counters", []);
    const why = res.status === 401 || res.status === 403 ? "Counters need a token with scope metrics or admin." : `GET /metrics answered ${res.status}.`;
    say("ticket-status", why, "warn");
    return;
  }
  const m = parseMetrics(typeof res.body === "string" ? res.body : "");
  const opens = total(m, "esr_ticket_opens_total");
  const ok = total(m, "esr_ticket_opens_total", (l) => l.outcome === "ok");
  const store = total(m, "esr_ticket_opens_total", (l) => l.outcome === "store");
  const refused = refusals(m);
  const isolate = m.find((s) => s.name === ("esr_isolate_info" satisfies StatusMetric))?.labels.isolate ?? "unknown";
  const since = total(m, "esr_counters_since_seconds");
  fillTable("ticket-counters", [
    ["tickets sealed", total(m, "esr_ticket_seals_total")],
    ["tickets opened", opens],
    ["resumed from the ticket", ok],
    ["resumed from the session store", store],
    ["resumption ratio", percent(ok + store, opens)],
    ...Object.keys(refused)
      .sort()
      .map((code) => ["refused: " + code, refused[code]!] as const),
    ["renewals (key no longer encrypts)", total(m, "esr_ticket_renewals_total")],
    ["single-use consumed / replays refused", `${total(m, "esr_single_use_consumes_total")} / ${total(m, "esr_single_use_replays_total")}`],
    ["key ring refreshes / failures", `${total(m, "esr_keyring_refreshes_total")} / ${total(m, "esr_keyring_refresh_failures_total")}`],
    ["requests / error answers", `${total(m, "esr_requests_total")} / ${total(m, "esr_errors_total")}`],
  ]);
  say("ticket-status", `Counted by one isolate (${isolate}) since ${since ? iso(since) : "its start"}; another refresh may reach another isolate.`);
}
