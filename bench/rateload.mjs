#!/usr/bin/env node
// Open-loop load at a fixed rate, for latency at equal offered load (part 3):
// request i is due at start + i / rate whether or not earlier ones have been
// answered, and its latency counts from when it was due, not from when it
// could be sent (no coordinated omission: a stall delays every request due
// during it, and all of them count it). Run as its own process so that the
// parent's event loop adds nothing. Bounded: it stops sending at durationMs
// and exits once the last answer arrives or after a 10 s grace.
//
//   node bench/rateload.mjs '{"url":…,"method":"POST","headers":{…},"body":"…","rate":1500,"durationMs":5000}'
// prints one JSON line: { due, done, errors, latencyMs: [sorted …] }
import http from "node:http";

const o = JSON.parse(process.argv[2]);
const target = new URL(o.url);
const agent = new http.Agent({ keepAlive: true, maxSockets: o.maxSockets ?? 64 });
const body = o.body === undefined ? undefined : Buffer.from(o.body);
const headers = { ...(o.headers ?? {}), ...(body ? { "content-length": body.length } : {}) };
const latencies = [];
let errors = 0;
let inFlight = 0;

function send(dueAt) {
  inFlight++;
  const req = http.request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: o.method ?? "GET", agent, headers }, (res) => {
    res.resume();
    res.on("end", () => {
      if (res.statusCode >= 400) errors++;
      latencies.push(performance.now() - dueAt);
      inFlight--;
    });
  });
  req.on("error", () => {
    errors++;
    inFlight--;
  });
  req.end(body);
}

const start = performance.now() + 20;
const interval = 1000 / o.rate;
let next = 0;
const total = Math.floor((o.durationMs / 1000) * o.rate);
await new Promise((resolve) => {
  const tick = () => {
    const now = performance.now();
    while (next < total && start + next * interval <= now) send(start + next++ * interval);
    if (next < total) setTimeout(tick, Math.max(0, Math.min(1, start + next * interval - performance.now())));
    else resolve();
  };
  setTimeout(tick, 20);
});
const graceEnd = performance.now() + 10_000;
while (inFlight > 0 && performance.now() < graceEnd) await new Promise((r) => setTimeout(r, 5));
agent.destroy();
latencies.sort((a, b) => a - b);
process.stdout.write(JSON.stringify({ due: total, done: latencies.length, errors, unanswered: inFlight, latencyMs: latencies.map((x) => Math.round(x * 1000) / 1000) }) + "\n");
process.exit(0);
