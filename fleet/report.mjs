// The fleet simulator's report: each scenario's figures as text, and the
// headline figures (issues 17 and 18's targets) as one JSON object.

const SIZES = ["1000", "10000", "100000"];
const SIZE_NAMES = { 1000: "1k", 10000: "10k", 100000: "100k" };

const num = (x, digits = 0) =>
  x === null || x === undefined || Number.isNaN(x) ? "-" : Number(x).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: 0 });
const pct = (x) => (x === null || x === undefined ? "-" : `${(100 * x).toFixed(1)}%`);
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function byName(results) {
  return Object.fromEntries(results.map((r) => [r.name, r]));
}

function crossShare(split) {
  if (!split) return null;
  const n = split.same_region.n + split.other_region.n;
  return n ? split.other_region.n / n : null;
}

/** The figures the issues set targets for, from whichever scenarios ran (null where the scenario did not). */
export function headline(results) {
  const s = byName(results);
  const fleetWide = results.filter((r) => r.headline);
  let peak = null;
  let peakScenario = null;
  for (const r of fleetWide) {
    const p = r.ring.scaled.peak_rps["100000"];
    if (peak === null || p > peak) {
      peak = p;
      peakScenario = r.name;
    }
  }
  const round = (x, d = 1) => (x === null || x === undefined ? null : Math.round(x * 10 ** d) / 10 ** d);
  return {
    ring_object_requests_per_isolate_hour: round(s.steady?.ring.per_isolate_hour),
    ring_object_peak_rps_at_100k_isolates: round(peak, 0),
    ring_object_peak_scenario: peakScenario,
    cold_open_p99_ms: s.deploy?.extra.cold_opens_away_from_ring.p99_ms ?? null,
    single_use_open_p99_ms: s.steady?.latency_ms.open_single?.p99 ?? null,
    // The same opens, split: by a caller in the region the ticket was issued in (its shard's), and the share that were not.
    single_use_open_p99_ms_same_region: s.steady?.latency_by_issue_region.open_single?.same_region.p99 ?? null,
    single_use_opens_cross_region_share: round(crossShare(s.steady?.latency_by_issue_region.open_single), 3),
    failed_valid_opens: fleetWide.length ? fleetWide.reduce((sum, r) => sum + (r.outcomes.failed_valid_opens ?? 0), 0) : null,
    purges_refused: s.sessions?.extra.purges.purges_refused ?? null,
    client_session_writes_refused: s.sessions?.extra.client_sessions.refused ?? null,
    cross_location_hit_rate_10s: round(s.sessions?.extra.resumption_hit_rate["10s"], 3),
    scenarios: Object.fromEntries(
      fleetWide.map((r) => [
        r.name,
        {
          ring_requests_per_isolate_hour: round(r.ring.per_isolate_hour),
          ring_peak_rps_at_100k: round(r.ring.scaled.peak_rps["100000"], 0),
          busiest_shard_peak_rps_at_100k: round(r.shards.busiest?.scaled.peak_rps["100000"] ?? 0, 0),
          handshake_within_100ms: round(r.handshake.share_within_deadline, 4),
          failed_valid_opens: r.outcomes.failed_valid_opens ?? 0,
        },
      ]),
    ),
  };
}

function loadLines(label, load, fitOf = "") {
  const lines = [];
  lines.push(
    `${label}: ${num(load.requests)} requests (${num(load.failed)} failed), ${num(load.per_isolate_hour, 1)} per isolate-hour, ` +
      `at most ${num(load.max_per_isolate_second)} from one isolate in one second`,
  );
  const fit = load.scaled.fit;
  lines.push(`  fitted per second${fitOf}: ${num(fit.perIsolate, 4)} × isolates + ${num(fit.perLocation, 4)} × locations`);
  lines.push(
    `  scaled req/s     ${SIZES.map((n) => lpad(SIZE_NAMES[n], 9)).join("")}\n` +
      `    mean           ${SIZES.map((n) => lpad(num(load.scaled.mean_rps[n]), 9)).join("")}\n` +
      `    peak (1 s)     ${SIZES.map((n) => lpad(num(load.scaled.peak_rps[n]), 9)).join("")}`,
  );
  return lines;
}

function latencyTable(latency) {
  const rows = Object.entries(latency).filter(([op]) => op !== "probe" && op !== "keys" && op !== "setup");
  if (!rows.length) return [];
  const out = [`  ${pad("request", 30)}${lpad("n", 7)}${lpad("p50", 7)}${lpad("p99", 7)}${lpad("max", 7)}${lpad("cold n", 8)}${lpad("cold p99", 10)}`];
  for (const [op, l] of rows) {
    out.push(`  ${pad(op, 30)}${lpad(num(l.n), 7)}${lpad(num(l.p50), 7)}${lpad(num(l.p99), 7)}${lpad(num(l.max), 7)}${lpad(num(l.cold_n), 8)}${lpad(num(l.cold_p99), 10)}`);
  }
  return out;
}

const list = (o) =>
  Object.entries(o ?? {})
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${num(v, 3)}`)
    .join(", ") || "none";

function operationsText(r) {
  const out = [`== ${r.name}: ${r.description}`, `real time ${num(r.real_seconds, 1)} s`];
  out.push(`  ${pad("request", 46)} ${pad("per request", 90)} p50 ms  answers`);
  for (const [op, c] of Object.entries(r.extra.operations)) {
    out.push(`  ${pad(op, 46)} ${pad(list(c.per_request), 90)} ${lpad(num(c.latency_p50_ms), 6)}  ${list(c.status)}`);
  }
  return out.join("\n");
}

function scenarioText(r) {
  if (r.extra.operations) return operationsText(r);
  const out = [];
  const secs = r.phases.map((p) => `${p.name} ${num(p.seconds)} s`).join(", ");
  out.push(`== ${r.name}: ${r.description}`);
  out.push(
    `measured: ${secs}; ${r.fleet.locations} locations in ${r.fleet.regions} regions, ${r.fleet.isolates} isolates (${num(r.fleet.isolate_restarts)} restarts); ` +
      `ring object in ${r.ring.region ?? "-"}; real time ${num(r.real_seconds, 1)} s`,
  );
  out.push(...loadLines("ring object", r.ring));
  if (r.ring.operator_calls) out.push(`  and ${num(r.ring.operator_calls)} operator call(s) (rotate), not scaled with isolates`);
  if (r.ring.calls.length) {
    const shown = r.ring.calls.slice(0, 40).map((c) => `${c.s}s ${c.location}#${c.isolate}${c.ok ? "" : "✗"}`);
    out.push(`  calls (s into the measured time, location#isolate, ✗ failed): ${shown.join(", ")}${r.ring.calls.length > 40 ? ", …" : ""}`);
  }
  if (r.shards.busiest) {
    out.push(
      `replay shards: ${r.shards.used} used (placed: ${list(r.shards.regions)}), requests per shard min ${num(r.shards.requests.min)} / median ${num(r.shards.requests.median)} / max ${num(r.shards.requests.max)}`,
    );
    out.push(...loadLines(`busiest shard (${r.shards.busiest.name}, in ${r.shards.busiest.region ?? "-"})`, r.shards.busiest, " (all shards' calls, for the mix)"));
  }
  out.push(`latency, virtual ms (cold: requests that started before their isolate had answered anything):`);
  out.push(...latencyTable(r.latency_ms));
  for (const [op, split] of Object.entries(r.latency_by_issue_region ?? {})) {
    out.push(
      `  ${pad(op, 30)}caller in the ticket's region: n ${num(split.same_region.n)} p50 ${num(split.same_region.p50)} p99 ${num(split.same_region.p99)}; ` +
        `elsewhere: n ${num(split.other_region.n)} p50 ${num(split.other_region.p50)} p99 ${num(split.other_region.p99)}`,
    );
  }
  out.push(`handshake-path calls answered within ${r.handshake.deadline_ms} ms: ${pct(r.handshake.share_within_deadline)} of ${num(r.handshake.n)}`);
  out.push(`outcomes: ${list(r.outcomes)}`);
  out.push(`DO requests: ${list(r.durable_objects.requests)}`);
  if (Object.keys(r.durable_objects.failed).length) out.push(`DO failures: ${list(r.durable_objects.failed)}`);
  if (r.durable_objects.storage) {
    const hours = r.phases.reduce((sum, p) => sum + p.seconds, 0) / 3600;
    for (const [binding, s] of Object.entries(r.durable_objects.storage)) {
      const perObjectHour = (n) => num(hours > 0 ? n / (s.objects * hours) : 0, 1);
      const keys = s.keys_written || s.keys_read || s.keys_deleted ? `${num(s.keys_written)} keys written, ${num(s.keys_read)} read, ${num(s.keys_deleted)} deleted, ` : "";
      out.push(
        `DO storage ${binding} (${s.objects} objects): ${keys}${num(s.rows_written)} rows written, ${num(s.set_alarm)} setAlarm (${perObjectHour(s.set_alarm)} per object-hour), ` +
          `${num(s.delete_alarm)} deleteAlarm, ${num(s.alarms_run)} alarms run (${perObjectHour(s.alarms_run)} per object-hour; they wrote ${num(s.rows_written_by_alarms)} of the rows and set ${num(s.set_alarm_by_alarms)} of the alarms)`,
      );
    }
  }
  out.push(`KV operations: ${list(r.kv.operations)}${Object.keys(r.kv.refused).length ? `; refused (429): ${list(r.kv.refused)}` : ""}; by the objects themselves: ${list(r.kv.by_objects)}`);
  out.push(`Cache API (the locations' ring tier): ${list(r.cache.operations)}`);
  const tierLine = (name, t) =>
    `${name} ${num(t.n)} (${num(t.per_isolate_hour, 1)} per isolate-hour; ${num(t.fit.perIsolate, 4)} × isolates + ${num(t.fit.perLocation, 4)} × locations a second; mean req/s at 1k/10k/100k: ${SIZES.map((n) => num(t.mean_rps[n], 1)).join(" / ")})`;
  out.push(`ring tier reads: ${tierLine("cache", r.tier.cache_reads)}; ${tierLine("KV", r.tier.kv_reads)}`);
  if (Object.keys(r.extra).length) out.push(`scenario figures: ${JSON.stringify(r.extra)}`);
  return out.join("\n");
}

export function renderReport(results, { realSeconds }) {
  const first = results[0];
  const out = [];
  out.push(`# Fleet simulator report (${results.length} scenarios, ${num(realSeconds, 0)} s real time, seed ${first?.model.seed})`);
  if (first) {
    const m = first.model;
    out.push(
      `model: Durable Object round trip ${m.latency.do_same_region_ms} ms same region / ${m.latency.do_cross_region_ms} ms cross region; ` +
        `KV read ${m.latency.kv_hot_read_ms} ms hot / ${m.latency.kv_cold_read_ms} ms cold, write ${m.latency.kv_write_ms} ms; jitter ±${m.latency.jitter * 100}%; ` +
        `KV propagation up to ${m.kv.propagation_max_s} s (per location: ${list(Object.fromEntries(Object.entries(m.kv_propagation_ms).map(([k, v]) => [k, v / 1000])))} s), ` +
        `location cache ${m.kv.cache_ttl_s} s, one write per key per ${m.kv.write_interval_ms} ms; ` +
        `traffic ${m.settings.rate} req/s per isolate, floods ${m.settings.floodRate} req/s per isolate`,
    );
  }
  out.push("");
  for (const r of results) out.push(scenarioText(r), "");
  out.push("## Summary");
  out.push(
    `${pad("scenario", 14)}${lpad("ring/iso-h", 11)}${lpad("peak@100k", 11)}${lpad("shard@100k", 11)}${lpad("seal p99", 10)}${lpad("open p99", 10)}${lpad("1-use p99", 10)}${lpad("≤100ms", 9)}${lpad("failed", 8)}`,
  );
  for (const r of results.filter((x) => x.headline)) {
    const l = r.latency_ms;
    out.push(
      `${pad(r.name, 14)}${lpad(num(r.ring.per_isolate_hour, 1), 11)}${lpad(num(r.ring.scaled.peak_rps["100000"]), 11)}${lpad(num(r.shards.busiest?.scaled.peak_rps["100000"] ?? 0), 11)}` +
        `${lpad(num(l.seal?.p99), 10)}${lpad(num(l.open?.p99), 10)}${lpad(num(l.open_single?.p99), 10)}${lpad(pct(r.handshake.share_within_deadline), 9)}${lpad(num(r.outcomes.failed_valid_opens ?? 0), 8)}`,
    );
  }
  return out.join("\n");
}
