/**
 * The load soak (`npm run soak`, test/soak/run.mjs; a 5 s slice runs in
 * `npm test` as test/e2e/soak-smoke.test.ts): the worker under Miniflare
 * (test/e2e/service.ts, 127.0.0.1 only) takes a mix of seal, open, store
 * (PUT and POST), get and take from `concurrency` requests in flight at once
 * (Node's fetch, keep-alive), while the key ring rotates under it:
 *
 * - the service's clock is moved forward by `advanceBy` seconds every
 *   `advanceEvery` real seconds (POST /__e2e/clock, test/e2e/worker-clock.ts),
 *   with a 120 s rotation period and a 240 s ticket lifetime: keys activate,
 *   retire and are destroyed at expiry many times over, and tickets and
 *   sessions expire;
 * - POST /v1/keys/rotate (no revoke) every `rotateEvery` real seconds.
 *
 * Valid operations must never fail. What is valid depends on the service's
 * clock, which the soak moves while requests are in flight, so each request
 * gets the window of service times at which it can have been handled:
 *
 *   lo = floor((real time at send + clock offset known at send) / 1000) - 1
 *   hi = floor((real time at answer + clock offset known at answer
 *              + any advance still in flight) / 1000) + 1
 *
 * (the offset only grows, and the soak is its only mover). A ticket
 * (expires_at from its seal answer) or stored session (expires_at from its
 * store answer) is valid for the request when expires_at > hi: then the
 * request must succeed, with the content that was sealed or stored. When
 * expires_at <= lo it has expired: the request must fail, with
 * ticket_expired or key_unknown (its key's window ended too) for a ticket,
 * session_not_found for a session; a success is an unexpected failure (an
 * expired secret resumed). In between either answer is expected. A
 * single-use ticket must open exactly once and a stored session be taken
 * exactly once: some are opened or taken twice at once, and exactly one of
 * the two must win. Every 5xx, network error, timeout or other code is an
 * unexpected failure.
 *
 * Memory: the workerd process's RSS (/proc/<pid>/status) every
 * `sampleEvery` seconds, and the worker isolate's live JS heap (a heap
 * snapshot through the inspector, taken after V8's full garbage collection,
 * with the load paused) at 25% of the run (warm), at 62.5% (mid) and after
 * the load (end). RSS cannot tell the worker's leaks from Miniflare's own
 * growth: a worker that answers "ok" grows workerd's RSS by about 3.7 KiB a
 * request, to a plateau near 650 MiB after some 250,000 requests (measured
 * on this machine, where most of it is garbage in Miniflare's entry
 * isolate and native memory). So the bound, judged for runs of 30 s or
 * more, is on the heap the worker keeps: at most 16 MiB above the warm
 * figure at the end (its caches filling) and not growing more than 4 MiB in
 * both halves (warm to mid, mid to end); and RSS never above 1.5 GiB, a
 * ceiling for gross native leaks. RSS is reported: start, warm (median at
 * 20-30% of the run), peak, end (median of the last 3 samples), the slope
 * over the second half, KiB gained per request after warm-up.
 */
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { WebSocket } from "undici";
import { startService, type Service } from "../e2e/service.js";

export interface SoakOptions {
  /** Seconds of load. */
  seconds: number;
  /** Requests in flight at once. Default 24. */
  concurrency?: number;
  /** Real seconds between clock advances. Default min(3, seconds / 5). */
  advanceEvery?: number;
  /** Service seconds per clock advance. Default 40. */
  advanceBy?: number;
  /** Real seconds between POST /v1/keys/rotate. Default min(5, seconds / 3). */
  rotateEvery?: number;
  /** Real seconds between RSS samples. Default min(2, seconds / 10). */
  sampleEvery?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Aborts the run early (Ctrl-C): the service is stopped all the same. */
  signal?: AbortSignal;
  /** Weights of the operations (default seal 24, open 26, put 15, create 5, get 20, take 10); 0 leaves one out. */
  mix?: Partial<Record<LoadKind, number>>;
}

export const LOAD_KINDS = ["seal", "open", "put", "create", "get", "take"] as const;
export type LoadKind = (typeof LOAD_KINDS)[number];
const DEFAULT_MIX: Record<LoadKind, number> = { seal: 24, open: 26, put: 15, create: 5, get: 20, take: 10 };

export type OpKind = "seal" | "open" | "put" | "create" | "get" | "take" | "rotate" | "clock" | "keys";

export interface LatencyStats {
  count: number;
  p50: number;
  p99: number;
  max: number;
  /** Answers that took over a second (a take in the second of its session's store waits that second out). */
  over1s: number;
}

export interface MemorySample {
  /** Seconds since the load started (negative: before). */
  t: number;
  rssMiB: number;
}

export interface HeapSample {
  label: "warm" | "mid" | "end";
  /** Seconds since the load started. */
  t: number;
  liveMiB: number;
}

export interface SoakReport {
  ok: boolean;
  /** Why not ok. */
  problems: string[];
  seconds: number;
  concurrency: number;
  settings: { advanceEvery: number; advanceBy: number; rotateEvery: number; sampleEvery: number; rotation_period: number; ticket_lifetime: number };
  /** Operations by kind (answers received, whatever they were). */
  operations: Record<string, number>;
  totalOperations: number;
  opsPerSecond: number;
  /** Failures that the validity rules allow, by kind and code. */
  expected: Record<string, number>;
  /** Failures of valid operations and everything else, by kind and code. */
  unexpected: Record<string, number>;
  /** Up to 20 unexpected failures in detail. */
  examples: string[];
  /** Checks that ran: must-succeed opens, gets, takes; races. */
  checks: Record<string, number>;
  latencyMs: Record<string, LatencyStats>;
  ring: { activeKeys: number; keysSeen: number; destroyed: number; forcedRotations: number; promotedNow: number; clockAdvancedBy: number };
  memory: {
    pid: number | undefined;
    samples: MemorySample[];
    /** The worker isolate's live JS heap (after a full GC) when warmed up, mid-run and after the load. */
    heap: HeapSample[];
    startMiB: number | undefined;
    warmMiB: number | undefined;
    peakMiB: number | undefined;
    endMiB: number | undefined;
    /** Least-squares slope over the second half, MiB per minute. */
    slopeLastHalfMiBPerMin: number | undefined;
    /** RSS gained after warm-up per request, KiB. */
    rssKiBPerRequest: number | undefined;
    verdict: string;
  };
  /** Lines the worker logged at level error (the first 10). */
  workerErrors: string[];
}

const CONTEXT = { cache_mode: "server", ticket_lifetime: 240, session_timeout: 240 };
const KEY_RING = { rotation_period: 120, prepublish_lead: 90, cache_ttl: 5 };
const REQUEST_TIMEOUT_MS = 15_000;
const MIB = 1024 * 1024;
/** The worker isolate's live heap may grow this much after warm-up (its caches filling), and no more. */
const HEAP_HEADROOM_MIB = 16;
/** Growth in both halves of the run beyond this, each, is growth without bound. */
const HEAP_STEADY_MIB = 4;
/**
 * workerd's RSS includes Miniflare's own isolates and allocator, which grow
 * with the request count whatever the worker does (a worker answering "ok"
 * grows about 3.7 KiB a request to a plateau near 650 MiB after ~250,000
 * requests on this machine): RSS is reported, and judged only against a
 * ceiling that catches gross native leaks.
 */
const RSS_CEILING_MIB = 1536;

interface TicketEntry {
  ticket: string;
  sessionId: string;
  secret: string;
  expiresAt: number;
  singleUse: boolean;
}

interface SessionEntry {
  id: string;
  secret: string;
  expiresAt: number;
  /** A take has started: a get still in flight may find nothing. */
  taken?: boolean;
}

interface Answer {
  status: number;
  body: any;
  /** Service-time window in which the request was handled. */
  lo: number;
  hi: number;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function rssMiB(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The service isolate's live JS heap in MiB: the sum of the node sizes of a
 * heap snapshot, which V8 takes after a full garbage collection (workerd's
 * inspector does not answer HeapProfiler.collectGarbage). The isolate also
 * runs the ring's and the replay guard's Durable Objects.
 */
async function liveHeapMiB(port: number): Promise<number> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`, { signal: AbortSignal.timeout(10_000) })).json()) as { title?: string; webSocketDebuggerUrl: string }[];
  const target = targets.find((t) => t.title?.includes("core:user:edge-session-resumption"));
  if (!target) throw new Error(`no inspector target for the worker among ${targets.map((t) => t.title).join(", ")}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  try {
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve(), { once: true });
      ws.addEventListener("error", () => reject(new Error("inspector: cannot connect")), { once: true });
    });
    const chunks: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("inspector: no heap snapshot within 60 s")), 60_000);
      ws.addEventListener("message", (event) => {
        const msg = JSON.parse(String(event.data)) as { id?: number; method?: string; params?: { chunk: string }; error?: { message: string } };
        if (msg.method === "HeapProfiler.addHeapSnapshotChunk") chunks.push(msg.params!.chunk);
        if (msg.id === 1) {
          clearTimeout(timer);
          if (msg.error) reject(new Error(`inspector: ${msg.error.message}`));
          else resolve();
        }
      });
    });
    ws.send(JSON.stringify({ id: 1, method: "HeapProfiler.takeHeapSnapshot", params: { reportProgress: false } }));
    await done;
    const snapshot = JSON.parse(chunks.join("")) as { snapshot: { meta: { node_fields: string[] } }; nodes: number[] };
    const fields = snapshot.snapshot.meta.node_fields;
    const at = fields.indexOf("self_size");
    let total = 0;
    for (let i = at; i < snapshot.nodes.length; i += fields.length) total += snapshot.nodes[i]!;
    return total / MIB;
  } finally {
    ws.close();
  }
}

const secret48 = () => randomBytes(48).toString("base64url");
const randomInt = (min: number, max: number) => min + Math.floor(Math.random() * (max - min + 1));
const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const seconds = options.seconds;
  const concurrency = options.concurrency ?? 24;
  const advanceEvery = options.advanceEvery ?? Math.min(3, seconds / 5);
  const advanceBy = options.advanceBy ?? 40;
  const rotateEvery = options.rotateEvery ?? Math.min(5, seconds / 3);
  const sampleEvery = options.sampleEvery ?? Math.min(2, seconds / 10);
  const log = options.log ?? (() => {});
  if (!(seconds > 0) || !(concurrency >= 1)) throw new Error("seconds and concurrency must be positive");
  // Shorter than a key's encrypt window: no key is skipped, each one seals tickets that later open under it retired.
  if (!(advanceBy >= 0 && advanceBy < KEY_RING.rotation_period)) throw new Error(`advanceBy: 0 to ${KEY_RING.rotation_period - 1} s`);

  const operations: Record<string, number> = {};
  const expected: Record<string, number> = {};
  const unexpected: Record<string, number> = {};
  const checks: Record<string, number> = {};
  const examples: string[] = [];
  const latencies: Record<string, number[]> = {};
  const bump = (m: Record<string, number>, k: string, n = 1) => (m[k] = (m[k] ?? 0) + n);
  const fail = (kind: string, what: string, detail: string) => {
    bump(unexpected, `${kind} ${what}`);
    if (examples.length < 20) examples.push(`${kind} ${what}: ${detail}`);
  };

  const service: Service = await startService({
    clock: "controlled",
    contexts: { default: CONTEXT },
    keyRing: KEY_RING,
    grants: { load: { scopes: ["tickets", "sessions"] }, admin: { scopes: ["admin", "keys"] } },
    inspector: true,
  });
  const memory: MemorySample[] = [];
  let loadStarted = Date.now();
  const sample = () => {
    const rss = rssMiB(service.pid);
    if (rss !== undefined) memory.push({ t: round((Date.now() - loadStarted) / 1000), rssMiB: round(rss) });
  };
  const ring = { active: new Set<number>(), live: new Set<number>(), all: new Set<number>(), destroyed: 0, forced: 0, promotedNow: 0, advanced: 0 };
  let workerErrors: string[] = [];

  try {
    // The service's clock: the offset known for sure, and an advance in flight.
    const clock = { offsetMs: (await service.clockOffset()) * 1000, pendingMs: 0 };
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });

    const request = async (kind: OpKind, method: string, path: string, body: unknown, token: string | undefined): Promise<Answer | undefined> => {
      const t0 = Date.now();
      const lo = Math.floor((t0 + clock.offsetMs) / 1000) - 1;
      let res: Response;
      let text: string;
      try {
        res = await fetch(`${service.url}${path}`, {
          method,
          headers: { ...(token && auth(token)), ...(body !== undefined && { "content-type": "application/json" }) },
          ...(body !== undefined && { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        text = await res.text();
      } catch (e) {
        bump(operations, kind);
        fail(kind, "network", e instanceof Error ? `${e.name}: ${e.message}` : String(e));
        return undefined;
      }
      const t1 = Date.now();
      (latencies[kind] ??= []).push(t1 - t0);
      bump(operations, kind);
      const hi = Math.floor((t1 + clock.offsetMs + clock.pendingMs) / 1000) + 1;
      let parsed: any = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = { raw: text.slice(0, 200) };
      }
      if (res.status >= 500) {
        fail(kind, `${res.status} ${parsed?.error?.code ?? ""}`.trim(), text.slice(0, 300));
        return undefined;
      }
      return { status: res.status, body: parsed, lo, hi };
    };
    const codeOf = (a: Answer) => (a.status < 300 ? "ok" : (a.body?.error?.code ?? `http_${a.status}`));

    const tickets: TicketEntry[] = [];
    const sessions: SessionEntry[] = [];
    const MAX_POOL = 5000;
    const remember = <T>(pool: T[], entry: T) => {
      pool.push(entry);
      if (pool.length > MAX_POOL) pool.splice(0, pool.length - MAX_POOL);
    };
    const pickIndex = (pool: unknown[]) => Math.floor(Math.random() * pool.length);

    /** Judges one answer about something that expires at `expiresAt` by the validity rules above. */
    const judge = (kind: string, a: Answer, expiresAt: number, okCodes: readonly string[], detail: string): "ok" | "refused" | "bad" => {
      const code = codeOf(a);
      const valid = expiresAt > a.hi;
      const expired = expiresAt <= a.lo;
      if (valid) bump(checks, `${kind} valid`);
      if (code === "ok") {
        if (expired) {
          fail(kind, "succeeded after expiry", `${detail} expires_at=${expiresAt} window=[${a.lo}, ${a.hi}]`);
          return "bad";
        }
        return "ok";
      }
      if (!valid && okCodes.includes(code)) {
        bump(expected, `${kind} ${code}${expired ? "" : " (at the expiry boundary)"}`);
        return "refused";
      }
      fail(kind, code, `${detail} status=${a.status} expires_at=${expiresAt} window=[${a.lo}, ${a.hi}] ${JSON.stringify(a.body).slice(0, 200)}`);
      return "bad";
    };

    const ops = {
      async seal() {
        const singleUse = Math.random() < 0.25;
        const store = Math.random() < 0.15;
        const secret = secret48();
        const lifetime = randomInt(20, CONTEXT.ticket_lifetime);
        const a = await request("seal", "POST", "/v1/tickets", {
          session: { version: "TLSv1.2", cipher_suite: 49195, master_secret: secret, server_name: "soak.test" },
          lifetime,
          ...(singleUse && { single_use: true }),
          ...(store && { store: true }),
        }, service.tokens.load);
        if (!a) return;
        if (a.status !== 201) return fail("seal", codeOf(a), JSON.stringify(a.body).slice(0, 200));
        if (a.body.expires_at - a.body.issued_at !== lifetime) return fail("seal", "lifetime", `asked ${lifetime}, got ${a.body.expires_at - a.body.issued_at}`);
        remember(tickets, { ticket: a.body.ticket, sessionId: a.body.session_id, secret, expiresAt: a.body.expires_at, singleUse });
      },
      async open() {
        if (tickets.length === 0) return ops.seal();
        const i = pickIndex(tickets);
        const t = tickets[i]!;
        const twice = t.singleUse && Math.random() < 0.2;
        if (t.singleUse) tickets.splice(i, 1);
        const send = () => request("open", "POST", "/v1/tickets/open", { ticket: t.ticket }, service.tokens.load);
        const answers = twice ? await Promise.all([send(), send()]) : [await send()];
        let wins = 0;
        let judged = 0;
        let replayed = 0;
        for (const a of answers) {
          if (!a) continue;
          judged++;
          // Of a racing pair, one may be refused as a replay (checked below: exactly one wins).
          if (twice && codeOf(a) === "ticket_replayed") {
            bump(expected, "open ticket_replayed (the race's loser)");
            replayed++;
            continue;
          }
          const verdict = judge("open", a, t.expiresAt, ["ticket_expired", "key_unknown"], `ticket single_use=${t.singleUse}`);
          if (verdict === "ok") {
            wins++;
            if (a.body.session?.master_secret !== t.secret || a.body.session_id !== t.sessionId) fail("open", "wrong session", `ticket ${t.sessionId}`);
          }
        }
        if (twice && judged === 2) {
          bump(checks, "open single-use race");
          const valid = answers.every((a) => a && t.expiresAt > a.hi);
          if (wins > 1) fail("open", "single use opened twice", `ticket ${t.sessionId}`);
          if (replayed > 0 && wins === 0) fail("open", "replayed without a winner", `ticket ${t.sessionId}: ${answers.map((a) => a && codeOf(a)).join(", ")}`);
          if (valid && wins !== 1) fail("open", "single use race without a winner", `ticket ${t.sessionId}: ${answers.map((a) => a && codeOf(a)).join(", ")}`);
        }
      },
      async put() {
        const id = randomBytes(16).toString("hex");
        const secret = secret48();
        const timeout = randomInt(20, CONTEXT.session_timeout);
        const a = await request("put", "PUT", `/v1/sessions/${id}`, {
          session: { version: "TLSv1.2", cipher_suite: 49195, master_secret: secret },
          timeout,
        }, service.tokens.load);
        if (!a) return;
        if (a.status !== 201) return fail("put", codeOf(a), JSON.stringify(a.body).slice(0, 200));
        remember(sessions, { id, secret, expiresAt: a.body.expires_at });
      },
      async create() {
        const secret = secret48();
        const a = await request("create", "POST", "/v1/sessions", {
          session: { version: "TLSv1.2", cipher_suite: 49195, master_secret: secret },
          timeout: randomInt(20, CONTEXT.session_timeout),
        }, service.tokens.load);
        if (!a) return;
        if (a.status !== 201) return fail("create", codeOf(a), JSON.stringify(a.body).slice(0, 200));
        remember(sessions, { id: a.body.session_id, secret, expiresAt: a.body.expires_at });
      },
      async get() {
        if (sessions.length === 0) return ops.put();
        const s = sessions[pickIndex(sessions)]!;
        const a = await request("get", "GET", `/v1/sessions/${s.id}`, undefined, service.tokens.load);
        if (!a) return;
        if (s.taken && codeOf(a) === "session_not_found") return void bump(expected, "get session_not_found (taken meanwhile)");
        if (judge("get", a, s.expiresAt, ["session_not_found"], `session ${s.id}`) === "ok" && a.body.session?.master_secret !== s.secret) {
          fail("get", "wrong session", `session ${s.id}`);
        }
      },
      async take() {
        if (sessions.length === 0) return ops.put();
        const s = sessions.splice(pickIndex(sessions), 1)[0]!;
        s.taken = true;
        const twice = Math.random() < 0.2;
        const send = () => request("take", "POST", `/v1/sessions/${s.id}/take`, undefined, service.tokens.load);
        const answers = twice ? await Promise.all([send(), send()]) : [await send()];
        const judged = answers.filter((a): a is Answer => a !== undefined);
        let wins = 0;
        for (const a of judged) {
          // Of two racing takes, one gets it; the other finds it taken, or nothing once the winner removed it.
          const code = codeOf(a);
          if (code === "ok") {
            if (a.body.session?.master_secret !== s.secret) fail("take", "wrong session", `session ${s.id}`);
            if (s.expiresAt <= a.lo) fail("take", "succeeded after expiry", `session ${s.id}`);
            wins++;
          } else if (code !== "session_not_found" && !(twice && code === "session_taken")) {
            fail("take", code, `session ${s.id} status=${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
          }
        }
        if (judged.length !== answers.length) return;
        const valid = judged.every((a) => s.expiresAt > a.hi);
        if (valid) bump(checks, twice ? "take race valid" : "take valid");
        if (wins > 1) fail("take", "taken twice", `session ${s.id}`);
        else if (valid && wins === 0) fail("take", "valid session not taken", `session ${s.id}: ${judged.map(codeOf).join(", ")}`);
        else if (!valid && wins === 0) bump(expected, `take session_not_found${judged.every((a) => s.expiresAt <= a.lo) ? "" : " (at the expiry boundary)"}`);
        else if (twice) bump(expected, `take ${judged.map(codeOf).find((c) => c !== "ok") ?? "session_not_found"} (the race's loser)`);
      },
    };
    const mix = LOAD_KINDS.map((k): [LoadKind, number] => [k, options.mix?.[k] ?? DEFAULT_MIX[k]]).filter(([, w]) => w > 0);
    if (mix.length === 0) throw new Error("the mix leaves every operation out");
    const total = mix.reduce((s, [, w]) => s + w, 0);
    const pick = (): keyof typeof ops => {
      let r = Math.random() * total;
      for (const [k, w] of mix) if ((r -= w) < 0) return k;
      return mix[0]![0];
    };

    const readRing = async () => {
      const a = await request("keys", "GET", "/v1/keys", undefined, service.tokens.admin);
      if (!a) return;
      if (a.status !== 200) return fail("keys", codeOf(a), JSON.stringify(a.body).slice(0, 200));
      // GET /v1/keys lists the keys not destroyed: one that leaves the list has reached its expiry.
      const ids = new Set<number>(a.body.keys.map((k: { id: number }) => k.id));
      for (const id of ring.live) {
        if (!ids.has(id)) {
          ring.destroyed++;
          ring.live.delete(id);
        }
      }
      for (const k of a.body.keys as { id: number; state: string }[]) {
        ring.live.add(k.id);
        ring.all.add(k.id);
        if (k.state === "active") ring.active.add(k.id);
      }
    };

    // Warm the ring and the connection pool, then start.
    await readRing();
    loadStarted = Date.now();
    let deadline = loadStarted + seconds * 1000;
    sample();
    const stopLoad = new AbortController();
    options.signal?.addEventListener("abort", () => stopLoad.abort(), { once: true });
    const running = () => Date.now() < deadline && !stopLoad.signal.aborted;

    // The load pauses (nothing in flight) while a heap snapshot is taken; the pause does not count as load time.
    let inFlight = 0;
    let gate: Promise<void> | undefined;
    let pausedMs = 0;
    const heap: HeapSample[] = [];
    const measureHeap = async (label: HeapSample["label"]) => {
      if (service.inspectorPort === undefined) return;
      const t0 = Date.now();
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      while (inFlight > 0) await sleep(5);
      try {
        heap.push({ label, t: round((t0 - loadStarted) / 1000), liveMiB: round(await liveHeapMiB(service.inspectorPort), 2) });
      } catch (e) {
        fail("heap", "snapshot", e instanceof Error ? e.message : String(e));
      } finally {
        const paused = Date.now() - t0;
        pausedMs += paused;
        deadline += paused;
        gate = undefined;
        release();
      }
    };

    const clients = Array.from({ length: concurrency }, async () => {
      while (running()) {
        if (gate) await gate;
        if (!running()) break;
        inFlight++;
        try {
          await ops[pick()]();
        } finally {
          inFlight--;
        }
      }
    });
    const sampler = (async () => {
      while (running()) {
        await sleep(sampleEvery * 1000, stopLoad.signal);
        sample();
      }
    })();
    // Clock advances, forced rotations and heap snapshots, one at a time, never overlapping.
    const control = (async () => {
      let nextAdvance = loadStarted + advanceEvery * 1000;
      let nextRotate = loadStarted + rotateEvery * 1000;
      const heapAt = [
        { at: loadStarted + 0.25 * seconds * 1000, label: "warm" as const },
        { at: loadStarted + 0.625 * seconds * 1000, label: "mid" as const },
      ];
      let nextLog = loadStarted + 10_000;
      for (;;) {
        const next = Math.min(nextAdvance, nextRotate, heapAt[0]?.at ?? Infinity);
        await sleep(Math.max(0, next - Date.now()), stopLoad.signal);
        if (!running()) break;
        const now = Date.now();
        if (heapAt[0] && now >= heapAt[0].at) {
          const { label } = heapAt.shift()!;
          await measureHeap(label);
          // The schedule moves with the pause.
          const paused = Date.now() - now;
          nextAdvance += paused;
          nextRotate += paused;
          for (const h of heapAt) h.at += paused;
        } else if (now >= nextAdvance) {
          nextAdvance += advanceEvery * 1000;
          clock.pendingMs = advanceBy * 1000;
          const a = await request("clock", "POST", "/__e2e/clock", { advance: advanceBy }, undefined);
          if (a?.status === 200) {
            clock.offsetMs = a.body.offset * 1000;
            ring.advanced += advanceBy;
          } else if (a) fail("clock", codeOf(a), JSON.stringify(a.body));
          clock.pendingMs = 0;
          await readRing();
        } else {
          nextRotate += rotateEvery * 1000;
          const a = await request("rotate", "POST", "/v1/keys/rotate", {}, service.tokens.admin);
          if (a && a.status !== 200) fail("rotate", codeOf(a), JSON.stringify(a.body).slice(0, 200));
          if (a?.status === 200) {
            ring.forced++;
            if (a.body.activates_at === a.body.now) ring.promotedNow++;
          }
          await readRing();
        }
        if (Date.now() >= nextLog) {
          nextLog += 10_000;
          const n = Object.values(operations).reduce((s, x) => s + x, 0);
          log(`  ${Math.round((Date.now() - loadStarted - pausedMs) / 1000)} s: ${n} operations, ${Object.values(unexpected).reduce((s, x) => s + x, 0)} unexpected, RSS ${memory.at(-1)?.rssMiB ?? "?"} MiB`);
        }
      }
    })();
    await Promise.all([...clients, sampler, control]);
    const wall = (Date.now() - loadStarted) / 1000;
    const elapsed = wall - pausedMs / 1000;
    sample();
    await readRing();
    if (!options.signal?.aborted) await measureHeap("end");
    workerErrors = service.errorLines();

    const latencyMs: Record<string, LatencyStats> = {};
    for (const [k, v] of Object.entries(latencies)) {
      const s = [...v].sort((a, b) => a - b);
      latencyMs[k] = { count: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s.at(-1) ?? 0, over1s: s.filter((ms) => ms > 1000).length };
    }
    const loadOps = Object.entries(operations).filter(([k]) => !["rotate", "clock", "keys"].includes(k)).reduce((s, [, n]) => s + n, 0);
    const warmAt = heap.find((h) => h.label === "warm")?.t ?? 0;
    const mem = judgeMemory(memory, heap, wall, service.pid, Math.round(loadOps * Math.max(0, 1 - warmAt / wall)));
    const problems: string[] = [];
    const unexpectedCount = Object.values(unexpected).reduce((s, x) => s + x, 0);
    if (unexpectedCount > 0) problems.push(`${unexpectedCount} unexpected failures`);
    if (workerErrors.length > 0) problems.push(`${workerErrors.length} error lines in the worker's log`);
    if (mem.failed) problems.push(`memory: ${mem.verdict}`);
    if (!options.signal?.aborted && ring.active.size < 2) problems.push("the ring never rotated");
    if (options.signal?.aborted) problems.push("aborted");
    return {
      ok: problems.length === 0,
      problems,
      seconds: round(elapsed),
      concurrency,
      settings: { advanceEvery, advanceBy, rotateEvery, sampleEvery, rotation_period: KEY_RING.rotation_period, ticket_lifetime: CONTEXT.ticket_lifetime },
      operations,
      totalOperations: loadOps,
      opsPerSecond: round(loadOps / elapsed, 0),
      expected,
      unexpected,
      examples,
      checks,
      latencyMs,
      ring: { activeKeys: ring.active.size, keysSeen: ring.all.size, destroyed: ring.destroyed, forcedRotations: ring.forced, promotedNow: ring.promotedNow, clockAdvancedBy: ring.advanced },
      memory: { pid: service.pid, samples: memory, heap, ...mem.figures, verdict: mem.verdict },
      workerErrors: workerErrors.slice(0, 10),
    };
  } finally {
    await service.stop();
  }
}

function judgeMemory(samples: MemorySample[], heap: HeapSample[], wall: number, pid: number | undefined, requestsAfterWarm: number) {
  const during = samples.filter((s) => s.t >= 0);
  const figures = {
    startMiB: during[0]?.rssMiB,
    warmMiB: median(during.filter((s) => s.t >= 0.2 * wall && s.t <= 0.3 * wall).map((s) => s.rssMiB)),
    peakMiB: samples.length ? Math.max(...samples.map((s) => s.rssMiB)) : undefined,
    endMiB: median(during.slice(-3).map((s) => s.rssMiB)),
    slopeLastHalfMiBPerMin: undefined as number | undefined,
    /** RSS gained from warm-up to the end per 1000 requests (the worker's and Miniflare's own). */
    rssKiBPerRequest: undefined as number | undefined,
  };
  const lastHalf = during.filter((s) => s.t >= wall / 2);
  if (lastHalf.length >= 2) {
    const mt = lastHalf.reduce((s, x) => s + x.t, 0) / lastHalf.length;
    const mr = lastHalf.reduce((s, x) => s + x.rssMiB, 0) / lastHalf.length;
    const num = lastHalf.reduce((s, x) => s + (x.t - mt) * (x.rssMiB - mr), 0);
    const den = lastHalf.reduce((s, x) => s + (x.t - mt) ** 2, 0);
    figures.slopeLastHalfMiBPerMin = den > 0 ? round((num / den) * 60) : 0;
  }
  if (figures.warmMiB !== undefined && figures.endMiB !== undefined && requestsAfterWarm > 0) {
    figures.rssKiBPerRequest = round(((figures.endMiB - figures.warmMiB) * 1024) / requestsAfterWarm, 2);
  }
  const live = (label: HeapSample["label"]) => heap.find((h) => h.label === label)?.liveMiB;
  const [warm, mid, end] = [live("warm"), live("mid"), live("end")];
  const problems: string[] = [];
  if (pid === undefined || during.length < 2) problems.push("RSS not measured (workerd's pid unknown)");
  if (warm === undefined || end === undefined) problems.push("the worker's heap was not measured");
  if (wall < 30) return { figures, failed: false, verdict: `not judged (runs under 30 s are too short)${problems.length ? "; " + problems.join("; ") : ""}` };
  if (problems.length) return { figures, failed: true, verdict: problems.join("; ") };
  const failures: string[] = [];
  if (end! > warm! + HEAP_HEADROOM_MIB) failures.push(`the worker's live heap grew ${round(end! - warm!, 2)} MiB after warm-up (bound ${HEAP_HEADROOM_MIB} MiB)`);
  if (mid !== undefined && mid - warm! > HEAP_STEADY_MIB && end! - mid > HEAP_STEADY_MIB) {
    failures.push(`the worker's live heap grew in both halves (${warm} → ${mid} → ${end} MiB)`);
  }
  if (figures.peakMiB! > RSS_CEILING_MIB) failures.push(`workerd's RSS reached ${figures.peakMiB} MiB (ceiling ${RSS_CEILING_MIB} MiB)`);
  if (failures.length) return { figures, failed: true, verdict: failures.join("; ") };
  return {
    figures,
    failed: false,
    verdict: `bounded: live heap ${warm} → ${mid ?? "?"} → ${end} MiB (bound: +${HEAP_HEADROOM_MIB} MiB after warm-up, not growing in both halves); RSS peak ${figures.peakMiB} MiB (ceiling ${RSS_CEILING_MIB} MiB)`,
  };
}

/** The report as text, for the terminal and docs/security.md. */
export function formatReport(r: SoakReport): string {
  const lines: string[] = [];
  lines.push(`soak: ${r.seconds} s, ${r.concurrency} requests in flight, ${r.totalOperations} operations (${r.opsPerSecond}/s): ${r.ok ? "OK" : "FAILED: " + r.problems.join("; ")}`);
  lines.push(`clock +${r.settings.advanceBy} s every ${r.settings.advanceEvery} s (rotation_period ${r.settings.rotation_period} s, ticket_lifetime ${r.settings.ticket_lifetime} s), rotate every ${r.settings.rotateEvery} s`);
  lines.push(`ring: ${r.ring.activeKeys} keys were active, ${r.ring.destroyed} destroyed at expiry, ${r.ring.forcedRotations} forced rotations (${r.ring.promotedNow} promoted at once), clock moved ${r.ring.clockAdvancedBy} s`);
  lines.push("");
  lines.push("kind      count     p50 ms   p99 ms   max ms   over 1 s");
  for (const k of ["seal", "open", "put", "create", "get", "take", "rotate", "clock", "keys"]) {
    const l = r.latencyMs[k];
    if (!l) continue;
    lines.push(`${k.padEnd(8)} ${String(r.operations[k] ?? 0).padStart(6)} ${String(l.p50).padStart(10)} ${String(l.p99).padStart(8)} ${String(l.max).padStart(8)} ${String(l.over1s).padStart(10)}`);
  }
  lines.push("");
  lines.push(`checked: ${Object.entries(r.checks).map(([k, v]) => `${k} ${v}`).join(", ") || "nothing"}`);
  lines.push(`expected failures: ${Object.entries(r.expected).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`);
  lines.push(`unexpected failures: ${Object.entries(r.unexpected).map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`);
  for (const e of r.examples) lines.push(`  ${e}`);
  const m = r.memory;
  lines.push(`workerd RSS (pid ${m.pid ?? "?"}): start ${m.startMiB ?? "?"} MiB, warm ${m.warmMiB ?? "?"} MiB, peak ${m.peakMiB ?? "?"} MiB, end ${m.endMiB ?? "?"} MiB; second half ${m.slopeLastHalfMiBPerMin ?? "?"} MiB/min, ${m.rssKiBPerRequest ?? "?"} KiB per request after warm-up`);
  lines.push(`  samples (s: MiB): ${m.samples.map((s) => `${s.t}: ${s.rssMiB}`).join(", ")}`);
  lines.push(`worker isolate live heap: ${m.heap.map((h) => `${h.label} (${h.t} s) ${h.liveMiB} MiB`).join(", ") || "not measured"}`);
  lines.push(`memory: ${m.verdict}`);
  if (r.workerErrors.length) lines.push(`worker errors:\n  ${r.workerErrors.join("\n  ")}`);
  return lines.join("\n");
}
