/**
 * The worker, started locally for end-to-end, load and soak tests: bundled
 * with esbuild from src/index.ts and run by Miniflare (workerd) on
 * 127.0.0.1 and an ephemeral port, with the bindings wrangler.toml declares
 * (read through wrangler itself, so a new binding needs no change here), a
 * fresh MASTER_KEY and fresh tokens, and a temp dir for KV and Durable Object
 * state. About half a second to start.
 *
 *   const service = await startService({ grants: { proxy: { scopes: ["sessions", "stek"] } } });
 *   fetch(`${service.url}/v1/keys`, { headers: { authorization: `Bearer ${service.tokens.proxy}` } });
 *   await service.stop();   // in afterAll: stops workerd and removes the state
 *
 * With `clock: "controlled"` the worker's clock (and the key ring's alarms)
 * can be moved forward with advanceClock(seconds): rotations without sleeps.
 *
 * A restart over the same state (test/e2e/restart.test.ts): a persistDir,
 * then a second instance with the first one's masterKey, tokens and
 * clockOffset(). `pid` (workerd) and `inspector: true` are for memory
 * measurements (test/soak/soak.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { WORKERD_BUNDLE } from "../../scripts/workerd-bundle.mjs";
import { unstable_getMiniflareWorkerOptions, unstable_readConfig } from "wrangler";
import type { Scope } from "../../src/auth/caller.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ENTRIES = {
  production: join(ROOT, "src/index.ts"),
  controlled: join(ROOT, "test/e2e/worker-clock.ts"),
} as const;

export const ALL_SCOPES: Scope[] = ["tickets", "sessions", "keys", "admin", "stek"];

export interface Grant {
  /** Default "default". */
  context?: string;
  scopes: readonly Scope[];
}

export interface ServiceOptions {
  /** CONTEXTS (default {"default": {}}). */
  contexts?: Record<string, Record<string, unknown>>;
  /** KEY_RING_SETTINGS (default: the service's defaults). */
  keyRing?: Record<string, number>;
  /** Token name -> grant; each gets a fresh random token. Default: { all: every scope in "default" }. */
  grants?: Record<string, Grant>;
  /** "system" (the production entry) or "controlled" (advanceClock). Default "system". */
  clock?: "system" | "controlled";
  /** Other vars, e.g. REPLAY_GUARD_SHARDS. */
  vars?: Record<string, string>;
  /** Keep state here instead of a temp dir removed by stop(). */
  persistDir?: string;
  /** MASTER_KEY as 64 hex digits (default: a fresh random one), e.g. a previous instance's, to restart over its state. */
  masterKey?: string;
  /** Token name -> the token to use instead of a fresh random one (each name still needs a grant), e.g. a previous instance's. */
  tokens?: Record<string, string>;
  /** Controlled clock only: seconds the clock starts ahead of the real one, e.g. a previous instance's clockOffset(). */
  clockOffset?: number;
  /** Open V8's inspector on a free loopback port (Service.inspectorPort), e.g. to measure the worker's heap. */
  inspector?: boolean;
  /**
   * More workers beside the service, as Miniflare worker options (name, script, serviceBindings…),
   * e.g. one that calls the service's entrypoint over a Service Binding. Reach them with Service.worker(name).
   */
  workers?: Record<string, unknown>[];
}

export interface Service {
  /** e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  port: number;
  /** Token name -> bearer token. */
  tokens: Record<string, string>;
  /** The MASTER_KEY this instance runs with (hex). */
  masterKey: string;
  /** Milliseconds it took to start. */
  startupMs: number;
  /** The workerd process's pid (Linux; undefined when it cannot be told apart from one started at the same time), e.g. to sample its memory. */
  pid: number | undefined;
  /** The inspector's port on 127.0.0.1 (with `inspector: true`); the worker's target is "core:user:edge-session-resumption". */
  inspectorPort: number | undefined;
  /** The worker's recent console output (request logs, errors), for failure messages. */
  logs(): string;
  /** Every line the worker logged at level error since it started (the first 100), e.g. unhandled errors behind a 500. */
  errorLines(): string[];
  /** The worker's clock, unix seconds (controlled clock only). */
  now(): Promise<number>;
  /** A fetcher for one of ServiceOptions.workers, by name (requests go straight to that worker). */
  worker(name: string): Promise<{ fetch(input: string, init?: RequestInit): Promise<Response> }>;
  /** Moves the worker's clock forward (controlled clock only); resolves with the new now. */
  advanceClock(seconds: number): Promise<number>;
  /** Seconds the worker's clock is ahead of the real one (controlled clock only). */
  clockOffset(): Promise<number>;
  stop(): Promise<void>;
}

const bundles = new Map<string, Promise<string>>();

function bundle(entry: string): Promise<string> {
  let p = bundles.get(entry);
  if (!p) {
    p = esbuild
      .build({
        entryPoints: [entry],
        ...WORKERD_BUNDLE,
        external: ["cloudflare:*", "node:*"],
        write: false,
        logLevel: "silent",
      })
      .then((r) => r.outputFiles[0]!.text);
    bundles.set(entry, p);
  }
  return p;
}

export async function startService(options: ServiceOptions = {}): Promise<Service> {
  const started = Date.now();
  const clock = options.clock ?? "system";
  const script = await bundle(ENTRIES[clock === "controlled" ? "controlled" : "production"]);
  const grants = options.grants ?? { all: { scopes: ALL_SCOPES } };
  const tokens: Record<string, string> = {};
  const apiTokens: Record<string, { context: string; scopes: readonly Scope[] }> = {};
  for (const [name, grant] of Object.entries(grants)) {
    const token = options.tokens?.[name] ?? `esr_e2e_${name}_${randomBytes(18).toString("base64url")}`;
    tokens[name] = token;
    apiTokens[createHash("sha256").update(token).digest("hex")] = { context: grant.context ?? "default", scopes: grant.scopes };
  }
  const masterKey = options.masterKey ?? randomBytes(32).toString("hex");
  const persist = options.persistDir ?? mkdtempSync(join(tmpdir(), "esr-service-"));
  // Ctrl-C (Miniflare's own exit hook stops workerd and exits at once) leaves no temp state behind.
  const removeTempState = () => {
    if (!options.persistDir) rmSync(persist, { recursive: true, force: true });
  };
  process.once("exit", removeTempState);
  // The worker's console output is kept (the last 200 lines), not printed: tests show it when they fail.
  const logLines: string[] = [];
  const errorLines: string[] = [];
  const keep = (stream: NodeJS.ReadableStream) => {
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      const lines = (partial + chunk).split("\n");
      partial = lines.pop() ?? "";
      logLines.push(...lines);
      for (const line of lines) if (line.includes('"level":"error"') && errorLines.length < 100) errorLines.push(line);
      if (logLines.length > 200) logLines.splice(0, logLines.length - 200);
    });
  };

  // The bindings wrangler.toml declares (KV, Durable Objects with SQLite, vars), as wrangler dev would set them up.
  const config = unstable_readConfig({ config: join(ROOT, "wrangler.toml") });
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  const workerdBefore = workerdChildren();
  const inspectorPort = options.inspector ? await freePort() : undefined;
  // wrangler also reads a developer's .dev.vars: only wrangler.toml's [vars] are kept, the rest is this test's.
  const declaredVars = Object.fromEntries(Object.entries((workerOptions.bindings ?? {}) as Record<string, unknown>).filter(([k]) => k in (config.vars ?? {})));
  const service = {
    ...(workerOptions as Record<string, unknown>),
    name: "edge-session-resumption",
    modules: true,
    script,
    scriptPath: join(ROOT, "worker.js"),
    bindings: {
      ...declaredVars,
      MASTER_KEY: masterKey,
      API_TOKENS: JSON.stringify(apiTokens),
      CONTEXTS: JSON.stringify(options.contexts ?? { default: {} }),
      KEY_RING_SETTINGS: JSON.stringify(options.keyRing ?? {}),
      ...options.vars,
    },
  };
  const shared = {
    host: "127.0.0.1",
    port: 0,
    ...(inspectorPort !== undefined && { inspectorPort }),
    defaultPersistRoot: persist,
    handleRuntimeStdio(stdout: NodeJS.ReadableStream, stderr: NodeJS.ReadableStream) {
      keep(stdout);
      keep(stderr);
    },
  };
  // The service first: it answers on the URL. Further workers only with `workers`, so the usual case stays one worker.
  const mf = new Miniflare((options.workers ? { ...shared, workers: [service, ...options.workers] } : { ...shared, ...service }) as ConstructorParameters<typeof Miniflare>[0]);
  let url: URL;
  try {
    url = await mf.ready;
  } catch (e) {
    await mf.dispose().catch(() => {});
    process.removeListener("exit", removeTempState);
    removeTempState();
    throw e;
  }
  const origin = url.origin;
  const spawned = [...workerdChildren()].filter((pid) => !workerdBefore.has(pid));
  let stopped = false;

  const clockState = async (advance?: number): Promise<{ now: number; offset: number }> => {
    if (clock !== "controlled") throw new Error("this service runs on the system clock: start it with clock: 'controlled'");
    const res = await fetch(`${origin}/__e2e/clock`, advance === undefined ? {} : { method: "POST", body: JSON.stringify({ advance }) });
    if (!res.ok) throw new Error(`clock: HTTP ${res.status} ${await res.text()}`);
    return (await res.json()) as { now: number; offset: number };
  };
  const clockCall = async (advance?: number): Promise<number> => (await clockState(advance)).now;
  if (options.clockOffset) {
    // Before any other request: the ring and the stores see the continued clock from the start.
    await clockCall(options.clockOffset).catch(async (e: unknown) => {
      await mf.dispose().catch(() => {});
      process.removeListener("exit", removeTempState);
      removeTempState();
      throw e;
    });
  }

  return {
    url: origin,
    port: Number(url.port),
    tokens,
    masterKey,
    startupMs: Date.now() - started,
    pid: spawned.length === 1 ? spawned[0] : undefined,
    inspectorPort,
    logs: () => logLines.join("\n"),
    errorLines: () => [...errorLines],
    worker: async (name) => (await mf.getWorker(name)) as unknown as Awaited<ReturnType<Service["worker"]>>,
    now: () => clockCall(),
    advanceClock: (seconds) => clockCall(seconds),
    clockOffset: async () => (await clockState()).offset,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await mf.dispose();
      } finally {
        process.removeListener("exit", removeTempState);
        removeTempState();
      }
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** The workerd processes this process started (Linux /proc; empty elsewhere). */
function workerdChildren(): Set<number> {
  const found = new Set<number>();
  let tasks: string[];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return found;
  }
  for (const task of tasks) {
    let children: string[];
    try {
      children = readFileSync(`/proc/self/task/${task}/children`, "utf8").split(" ").filter(Boolean);
    } catch {
      continue;
    }
    for (const pid of children) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd") found.add(Number(pid));
      } catch {
        // exited meanwhile
      }
    }
  }
  return found;
}
