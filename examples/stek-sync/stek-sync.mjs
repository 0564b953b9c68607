#!/usr/bin/env node
// Keeps a terminator's ticket key files current from the service's
// GET /v1/keys/export, for programs that read their keys from files: nginx
// and OpenResty (format nginx80 or nginx48, one file per key), HAProxy
// (format haproxy, one file of base64 lines), Envoy (nginx80; see
// docs/proxies.md for its SDS file).
//
// Each poll fetches the export; when its revision changed it writes the files
// atomically (temp file + rename, mode 0600) and runs --reload. It then
// sleeps refresh_after seconds: until the next key event, at most the
// service's cache_ttl. A failed fetch keeps the current files (they stay
// valid until the next activation, a whole rotation period after they were
// written) and retries with backoff.
//
//   npm run build:client
//   ESR_TOKEN=<a token with the stek scope> node examples/stek-sync/stek-sync.mjs \
//     --service https://resumption.example.com --format nginx80 --slots 4 \
//     --dir /etc/nginx/esr --reload "nginx -s reload"
//
// HAProxy without reloads: --haproxy-socket PATH (its stats socket at level
// admin) moves the running HAProxy to each new export through the runtime API
// (`set ssl tls-key`, examples/haproxy/runtime-keys.mjs); --reload runs only
// when that cannot be done (docs/proxies.md#haproxy says when).
//
//   ESR_TOKEN=... node examples/stek-sync/stek-sync.mjs --service https://resumption.example.com \
//     --format haproxy --dir /etc/haproxy/esr --haproxy-socket /run/haproxy/admin.sock \
//     --reload "systemctl reload haproxy"
//
// --once: one poll, then exit (0: files current and applied, 1: the fetch or the apply failed); prints the export summary.
// From cron, `esr export` (README.md#cli) is that one poll, with the same
// files and .revision, and exits 0 only when the files changed: `&& nginx -s reload`.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ResumptionClient } from "edge-session-resumption/client";
import { applyTicketKeys, findTicketKeyRef } from "../haproxy/runtime-keys.mjs";

const { values: opt } = parseArgs({
  options: {
    service: { type: "string", default: process.env.ESR_URL ?? "http://127.0.0.1:8787" },
    format: { type: "string", default: "nginx80" },
    slots: { type: "string" },
    dir: { type: "string" },
    reload: { type: "string" },
    once: { type: "boolean", default: false },
    timeout: { type: "string", default: "5000" },
    "haproxy-socket": { type: "string" },
    "haproxy-ref": { type: "string" },
  },
});

const token = process.env.ESR_TOKEN;
if (!token || !opt.dir) {
  console.error("usage: ESR_TOKEN=<token with the stek scope> stek-sync.mjs --dir DIR [--format nginx80|nginx48|haproxy] [--slots N] [--reload CMD] [--haproxy-socket PATH [--haproxy-ref ID]] [--once]");
  process.exit(2);
}
if (opt["haproxy-socket"] && opt.format !== "haproxy") {
  console.error("--haproxy-socket applies to --format haproxy only");
  process.exit(2);
}

const log = (event, fields = {}) => console.log(JSON.stringify({ t: Date.now(), event, ...fields }));
const client = new ResumptionClient({ baseUrl: opt.service, token, timeout: Number(opt.timeout), retries: 2 });
const revisionFile = join(opt.dir, ".revision");

function currentRevision() {
  try {
    return readFileSync(revisionFile, "utf8").trim();
  } catch {
    return undefined;
  }
}

function writeAtomically(path, content) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  renameSync(tmp, path);
}

function forgetRevision() {
  rmSync(revisionFile, { force: true });
}

/**
 * HAProxy's runtime API: set ssl tls-key until the running HAProxy holds the
 * export's keys. False (logged) when it cannot; the caller reloads instead.
 */
async function applyThroughRuntimeApi(exported) {
  const socketPath = opt["haproxy-socket"];
  const file = resolve(opt.dir, exported.files[0].name);
  try {
    const ref = opt["haproxy-ref"] ?? (await findTicketKeyRef(socketPath, file));
    const lines = exported.files[0].content.split("\n").filter(Boolean);
    const { pushed, slots } = await applyTicketKeys({ socketPath, ref, lines });
    log("keys_applied", { via: "runtime_api", ref, pushed, slots, revision: exported.revision });
    return true;
  } catch (e) {
    log("runtime_api_failed", { code: e.code ?? "error", message: e.message, fallback: opt.reload ? "reload" : "none" });
    return false;
  }
}

function runReload(command) {
  return new Promise((resolve) => {
    const child = spawn(command, { shell: true, stdio: "inherit" });
    child.on("exit", (code) => resolve(code ?? 1));
    child.on("error", () => resolve(1));
  });
}

/** One poll: true when the files are current. */
async function poll() {
  const request = opt.slots === undefined ? {} : { slots: Number(opt.slots) };
  const r = await client.exportKeys(opt.format, request);
  if (!r.ok) {
    log("export_failed", { code: r.error.code, status: r.error.status, message: r.error.message });
    return { ok: false };
  }
  const exported = r.value;
  if (!exported.files) {
    log("export_failed", { code: "no_files", message: `format ${exported.format} has no files: its program loads its keys itself (examples/node-tls-terminator, examples/go-tls-server)` });
    return { ok: false, fatal: true };
  }
  const changed = exported.revision !== currentRevision();
  if (changed) {
    mkdirSync(opt.dir, { recursive: true, mode: 0o700 });
    for (const f of exported.files) {
      writeAtomically(join(opt.dir, f.name), f.encoding === "base64" ? Buffer.from(f.content, "base64") : f.content);
    }
    // Last: a crash before this line rewrites the files next time.
    writeAtomically(revisionFile, `${exported.revision}\n`);
  }
  const summary = {
    format: exported.format,
    revision: exported.revision,
    changed,
    files: exported.files.map((f) => f.name),
    keys: exported.keys.map((k) => ({ id: k.id, state: k.state, role: k.role, name: k.name, expires_at: k.expires_at })),
    dropped: exported.dropped,
    next_change_at: exported.next_change_at,
    refresh_after: exported.refresh_after,
  };
  log(changed ? "keys_written" : "keys_current", summary);
  if (!changed) return { ok: true, refreshAfter: exported.refresh_after };
  if (opt["haproxy-socket"] && (await applyThroughRuntimeApi(exported))) return { ok: true, refreshAfter: exported.refresh_after };
  if (opt.reload) {
    const code = await runReload(opt.reload);
    log("reloaded", { command: opt.reload, code });
    if (code === 0) return { ok: true, refreshAfter: exported.refresh_after };
  } else if (!opt["haproxy-socket"]) {
    return { ok: true, refreshAfter: exported.refresh_after };
  }
  // The program still runs with the old keys: compare again at the next poll.
  forgetRevision();
  return { ok: false };
}

if (opt.once) {
  const result = await poll();
  process.exit(result.ok ? 0 : 1);
}

let failures = 0;
for (;;) {
  const result = await poll();
  if (result.fatal) process.exit(1);
  failures = result.ok ? 0 : failures + 1;
  const waitMs = result.ok ? result.refreshAfter * 1000 : Math.min(30_000, 1000 * 2 ** failures);
  await new Promise((r) => setTimeout(r, waitMs));
}
