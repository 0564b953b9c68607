#!/usr/bin/env node
// The load of part 5 (rotation under load), run as a separate process: each
// of `connections` loops seals the reference session, opens the fresh ticket
// and, every `oldEvery` rounds, opens a ticket sealed before the load began.
// Every request is recorded (start time, latency, status, key id, error code)
// so that failures and latency can be placed relative to each rotation.
// Bounded: it stops sending at `durationMs` and exits.
//
//   node bench/loadgen.mjs '{"url":…,"token":…,"durationMs":…,"connections":8,"oldTickets":[…],"oldEvery":4}'
import http from "node:http";
import { readFileSync } from "node:fs";

const o = JSON.parse(process.argv[2]);
const REFERENCE = JSON.parse(readFileSync(new URL("./reference.json", import.meta.url), "utf8"));
const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
const target = new URL(o.url);
const now = () => performance.timeOrigin + performance.now();

const KIND = { seal: 0, open: 1, "open-old": 2 };
const rec = { t: [], lat: [], kind: [], status: [], keyId: [], code: [], renew: [] };
function record(kind, t0, status, keyId, code, renew) {
  rec.t.push(Math.round(t0 * 10) / 10);
  rec.lat.push(Math.round((now() - t0) * 1000) / 1000);
  rec.kind.push(KIND[kind]);
  rec.status.push(status);
  rec.keyId.push(keyId ?? null);
  rec.code.push(code ?? null);
  rec.renew.push(renew ? 1 : 0);
}

function post(path, body) {
  return new Promise((resolve) => {
    const data = JSON.stringify(body);
    const req = http.request(
      { host: target.hostname, port: target.port, path, method: "POST", agent, headers: { authorization: `Bearer ${o.token}`, "content-type": "application/json", "content-length": Buffer.byteLength(data) } },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (text += d));
        res.on("end", () => {
          let json;
          try {
            json = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode, json });
        });
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ status: 0, json: { error: { code: `client:${e.message}` } } }));
    req.end(data);
  });
}

async function loop(index, deadline) {
  let round = index;
  while (now() < deadline) {
    let t0 = now();
    const sealed = await post("/v1/tickets", { session: REFERENCE });
    record("seal", t0, sealed.status, sealed.json?.key_id, sealed.json?.error?.code);
    if (sealed.status === 201) {
      t0 = now();
      const opened = await post("/v1/tickets/open", { ticket: sealed.json.ticket });
      record("open", t0, opened.status, sealed.json.key_id, opened.json?.error?.code, opened.json?.renew);
    }
    if (o.oldTickets?.length && ++round % o.oldEvery === 0) {
      const old = o.oldTickets[round % o.oldTickets.length];
      t0 = now();
      const opened = await post("/v1/tickets/open", { ticket: old.ticket });
      record("open-old", t0, opened.status, old.key_id, opened.json?.error?.code, opened.json?.renew);
    }
  }
}

const started = now();
const deadline = started + o.durationMs;
await Promise.all(Array.from({ length: o.connections }, (_, i) => loop(i, deadline)));
agent.destroy();
process.stdout.write(JSON.stringify({ started, ended: now(), kinds: Object.keys(KIND), ...rec }) + "\n");
