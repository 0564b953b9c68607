// Serves the service worker locally on workerd for the HTTP parts: with the
// real config (wrangler.toml: bindings, Durable Objects, compatibility date)
// and generated secrets (a random MASTER_KEY, one bench token holding every
// scope). The developer's own .dev.vars is never read: the config is copied
// into the benchmark's scratch directory, next to a generated .dev.vars.
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { buildServiceWorker, ROOT, WORKER_ROOT } from "./build.mjs";
import { onCleanup, scratch, sleep, start } from "./proc.mjs";

export const SCOPES = ["tickets", "sessions", "keys", "admin", "stek"];

/**
 * A random MASTER_KEY and, for each context, one token with every scope, in
 * the shapes the worker's config expects. `token` is the default context's.
 */
export function benchSecrets(contexts = ["default"]) {
  const tokens = {};
  const grants = {};
  for (const context of contexts) {
    const token = `esr_bench_${randomBytes(24).toString("base64url")}`;
    tokens[context] = token;
    grants[createHash("sha256").update(token).digest("hex")] = { context, scopes: SCOPES };
  }
  return {
    token: tokens.default,
    tokens,
    vars: {
      MASTER_KEY: randomBytes(32).toString("base64url"),
      API_TOKENS: JSON.stringify(grants),
    },
  };
}

/** wrangler.toml copied into a scratch directory, `main` made absolute, with a generated .dev.vars beside it. */
function configCopy(name, vars) {
  const dir = scratch(`config-${name}`);
  mkdirSync(dir, { recursive: true });
  const toml = readFileSync(join(WORKER_ROOT, "wrangler.toml"), "utf8").replace(/^main\s*=\s*"([^"]+)"/m, (_, p) => `main = "${join(WORKER_ROOT, p)}"`);
  writeFileSync(join(dir, "wrangler.toml"), toml);
  writeFileSync(join(dir, ".dev.vars"), Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join("\n") + "\n", { mode: 0o600 });
  return join(dir, "wrangler.toml");
}

/**
 * The worker's stdout and stderr (its request log: one console.log line per
 * request) are drained here instead of printed: counted, the last few KiB
 * kept for diagnostics. Printing thousands of lines a second to a terminal
 * would load the machine the benchmark runs on.
 */
function drainStdio(stats) {
  return (stdout, stderr) => {
    stdout.on("data", (d) => {
      stats.bytes += d.length;
      for (let i = 0; i < d.length; i++) if (d[i] === 10) stats.lines++;
    });
    stderr.on("data", (d) => (stats.stderr = (stats.stderr + d).slice(-4096)));
  };
}

let built;
/** The path of the service bundle the last serveMiniflare() ran (for profiles). */
export const serviceBundle = () => built;

/**
 * Miniflare (workerd) running the worker as `wrangler deploy` bundles it, with
 * the bindings wrangler derives from wrangler.toml. `vars` override [vars]
 * (e.g. KEY_RING_SETTINGS for the rotation part); `extraContexts` are added
 * to wrangler.toml's CONTEXTS, each with its own token; `workers` are more
 * Miniflare workers beside it in the same workerd (part 6's calling Worker,
 * bound to the service), reached with mf.getWorker(name). Returns
 * { url, token, tokens, mf, stop }.
 */
export async function serveMiniflare({ vars = {}, extraContexts = {}, inspectorPort, consoleLogNoop = false, workers } = {}) {
  built ??= buildServiceWorker();
  // consoleLogNoop: a diagnostic variant, the same bundle with console.log
  // replaced by a no-op before any module code runs, to price the request log.
  // Prepended on the first line, so that line numbers (profiles) stay those of the bundle.
  const script = (consoleLogNoop ? "globalThis.console.log = () => {}; " : "") + readFileSync(await built, "utf8");
  const { unstable_getMiniflareWorkerOptions, unstable_readConfig } = await import("wrangler");
  const configured = unstable_readConfig({ config: join(WORKER_ROOT, "wrangler.toml") }).vars ?? {};
  const contexts = { ...JSON.parse(configured.CONTEXTS ?? '{"default":{}}'), ...extraContexts };
  const secrets = benchSecrets(Object.keys(contexts));
  const allVars = { ...secrets.vars, ...(Object.keys(extraContexts).length ? { CONTEXTS: JSON.stringify(contexts) } : {}), ...vars };
  const { workerOptions } = unstable_getMiniflareWorkerOptions(configCopy(`mf-${Date.now()}`, allVars));
  const stdio = { lines: 0, bytes: 0, stderr: "" };
  const service = { ...workerOptions, name: "edge-session-resumption", modules: true, script, bindings: { ...workerOptions.bindings, ...allVars } };
  const shared = { host: "127.0.0.1", port: 0, handleRuntimeStdio: drainStdio(stdio), ...(inspectorPort ? { inspectorPort } : {}) };
  // The service first: it answers on the URL.
  const mf = new Miniflare(workers ? { ...shared, workers: [service, ...workers] } : { ...shared, ...service });
  const stop = onCleanup(() => mf.dispose());
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { kind: "miniflare", url, token: secrets.token, tokens: secrets.tokens, mf, stop, stdio };
}

/** `wrangler dev` in a child process (its own bundling, its proxy in front of workerd). */
export async function serveWranglerDev({ vars = {}, port } = {}) {
  const secrets = benchSecrets();
  const config = configCopy(`wd-${Date.now()}`, { ...secrets.vars, ...vars });
  const proc = start(join(ROOT, "node_modules/.bin/wrangler"), ["dev", "-c", config, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", "0", "--log-level", "warn", "--show-interactive-dev-session=false"], {
    cwd: ROOT,
    env: { WRANGLER_SEND_METRICS: "false", CI: "true" },
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.ok) break;
    } catch {}
    if (proc.child.exitCode !== null || Date.now() > deadline) {
      await proc.stop();
      throw new Error(`wrangler dev did not come up:\n${proc.output().slice(-2000)}`);
    }
    await sleep(250);
  }
  const stop = onCleanup(() => proc.stop());
  return { kind: "wrangler dev", url, token: secrets.token, stop };
}

/** A small JSON client for setup calls (not for load). */
export function client(server, token = server.token) {
  return async function call(method, path, body) {
    const headers = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(server.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = { raw: text };
    }
    return { status: res.status, body: json };
  };
}

/** A bench worker (bench/<entry>.ts, bundled by esbuild) on its own Miniflare. */
export async function serveBenchWorker(entry) {
  const { buildCoreWorker, wranglerCompat } = await import("./build.mjs");
  const script = readFileSync(await buildCoreWorker(entry), "utf8");
  const { compatibilityDate, compatibilityFlags } = await wranglerCompat();
  const stdio = { lines: 0, bytes: 0, stderr: "" };
  const mf = new Miniflare({ modules: true, script, compatibilityDate, compatibilityFlags, host: "127.0.0.1", port: 0, handleRuntimeStdio: drainStdio(stdio) });
  const stop = onCleanup(() => mf.dispose());
  const url = (await mf.ready).toString().replace(/\/$/, "");
  return { kind: `miniflare (bench/${entry}.ts)`, url, mf, stop, stdio };
}
