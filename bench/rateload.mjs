#!/usr/bin/env node
// Open-loop load at a fixed rate, for latency at equal offered load (part 3):
// request i is due at start + i / rate whether or not earlier ones have been
// answered, and its latency counts from when it was due, not from when it
// could be sent (no coordinated omission: a stall delays every request due
// during it, and all of them count it).
//
// With several targets the schedule is one stream in which the targets take
// turns (request i goes to target i mod k), each at `rate`: whatever stalls
// the machine (another process on the cores, a GC in the worker) lands on
// every target's requests alike, so the targets' latencies differ only by
// what their own requests cost. Run as its own process so that the parent's
// event loop adds nothing. Bounded: it stops sending at durationMs and exits
// once the last answer arrives or after a 10 s grace.
//
//   node bench/rateload.mjs '{"targets":[{"id":"a","url":…,"method":"POST","headers":{…},"body":"…"},…],"rate":500,"durationMs":5000}'
// prints one JSON line: { rate, due, targets: { <id>: { due, done, errors, unanswered, latencyMs: [sorted …] } } }
import http from "node:http";

const o = JSON.parse(process.argv[2]);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64 });
const targets = o.targets.map((t) => {
  const url = new URL(t.url);
  const body = t.body === undefined ? undefined : Buffer.from(t.body);
  return {
    id: t.id,
    options: { host: url.hostname, port: url.port, path: url.pathname + url.search, method: t.method ?? "GET", agent, headers: { ...(t.headers ?? {}), ...(body ? { "content-length": body.length } : {}) } },
    body,
    stats: { due: 0, errors: 0, unanswered: 0, latencies: [] },
  };
});
let inFlight = 0;

function send(target, dueAt) {
  inFlight++;
  target.stats.due++;
  target.stats.unanswered++;
  const settle = () => {
    inFlight--;
    target.stats.unanswered--;
  };
  const req = http.request(target.options, (res) => {
    res.resume();
    res.on("end", () => {
      if (res.statusCode >= 400) target.stats.errors++;
      target.stats.latencies.push(performance.now() - dueAt);
      settle();
    });
  });
  req.on("error", () => {
    target.stats.errors++;
    settle();
  });
  req.end(target.body);
}

const streamRate = o.rate * targets.length;
const start = performance.now() + 20;
const interval = 1000 / streamRate;
let next = 0;
const total = Math.floor((o.durationMs / 1000) * streamRate);
await new Promise((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (next < total && start + next * interval <= now) {
      send(targets[next % targets.length], start + next * interval);
      next++;
    }
    if (next < total) setTimeout(tick, Math.max(0, Math.min(1, start + next * interval - performance.now())));
    else resolve();
  };
  setTimeout(tick, 20);
});
const graceEnd = performance.now() + 10_000;
while (inFlight > 0 && performance.now() < graceEnd) await new Promise((r) => setTimeout(r, 5));
agent.destroy();
const out = { rate: o.rate, due: total, targets: {} };
for (const t of targets) {
  const xs = t.stats.latencies.sort((a, b) => a - b);
  out.targets[t.id] = { due: t.stats.due, done: xs.length, errors: t.stats.errors, unanswered: t.stats.unanswered, latencyMs: xs.map((x) => Math.round(x * 1000) / 1000) };
}
process.stdout.write(JSON.stringify(out) + "\n");
process.exit(0);
