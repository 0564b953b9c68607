// The session store routes (PUT/GET /v1/sessions/{id}), when they exist:
// a probe, bulk storing, and ids. The HTTP part measures the lookups; part 4
// measures them against the number of stored sessions and the internal
// cache's memory per session.
import { readFileSync } from "node:fs";
import { writeFileSync } from "node:fs";
import { scratch } from "../lib/proc.mjs";

export const REFERENCE = JSON.parse(readFileSync(new URL("../reference.json", import.meta.url), "utf8"));

/** 32-byte session ids as lowercase hex: a fixed prefix and a counter, so every run stores the same ones. */
export function sessionId(i, prefix = "be") {
  return prefix + i.toString(16).padStart(64 - prefix.length, "0");
}

export function idsFile(name, from, to, prefix) {
  const file = scratch(`ids-${name}.txt`);
  const lines = [];
  for (let i = from; i < to; i++) lines.push(sessionId(i, prefix));
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

/**
 * Does GET /v1/sessions/{id} exist? Before the route exists, the app's
 * fallback answers 404 not_found ("no such route"); after, an unknown id is
 * some other answer (session_not_found).
 */
export async function probeSessions(call) {
  const r = await call("GET", `/v1/sessions/${sessionId(0, "00")}`);
  if (r.status === 404 && r.body?.error?.code === "not_found") return { available: false, reason: "GET /v1/sessions/{id} answers 404 not_found (no such route)" };
  if (r.status >= 500) return { available: false, reason: `GET /v1/sessions/{id} answers ${r.status} ${r.body?.error?.code ?? ""}` };
  return { available: true, probe: { status: r.status, code: r.body?.error?.code } };
}

/** Stores one session; throws unless 201. */
export async function putSession(call, id, session = REFERENCE) {
  const r = await call("PUT", `/v1/sessions/${id}`, { session, timeout: 3600 });
  if (r.status !== 201) throw new Error(`PUT /v1/sessions/${id}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Stores sessions [from, to) with `concurrency` requests in flight (setup, not a measurement). */
export async function bulkPut(server, token, from, to, { concurrency = 16, prefix } = {}) {
  const body = JSON.stringify({ session: REFERENCE, timeout: 3600 });
  let next = from;
  let failed;
  const worker = async () => {
    while (next < to && !failed) {
      const i = next++;
      const res = await fetch(`${server.url}/v1/sessions/${sessionId(i, prefix)}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
      const text = await res.text();
      if (res.status !== 201) failed = `PUT ${i}: ${res.status} ${text.slice(0, 300)}`;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failed) throw new Error(failed);
  return { stored: to - from, seconds: (performance.now() - t0) / 1000 };
}

/** GETs ids [from, to) (to fill the internal cache); throws unless each is 200. */
export async function bulkGet(server, token, from, to, { concurrency = 8, prefix } = {}) {
  let next = from;
  let failed;
  const worker = async () => {
    while (next < to && !failed) {
      const i = next++;
      const res = await fetch(`${server.url}/v1/sessions/${sessionId(i, prefix)}`, { headers: { authorization: `Bearer ${token}` } });
      await res.arrayBuffer();
      if (res.status !== 200) failed = `GET ${i}: ${res.status}`;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  if (failed) throw new Error(failed);
}
