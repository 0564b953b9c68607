/**
 * The fleet: locations × isolates, each isolate the service's own app
 * (src/app.ts createApp) with its own caches, its location's Cache API and
 * region, and the fleet's virtual clock, over shared bindings: the real
 * Durable Object namespaces (KeyRingObject, KeyVaultObject,
 * ReplayGuardObject) and one KV model, each wrapped per caller
 * (fleet/bindings.ts): per isolate, and per object for the objects' own KV
 * and vault calls. Requests go through the HTTP API only, as a terminator's
 * would.
 */
import { createApp } from "../src/app.js";
import type { Env } from "../src/env.js";
import { tierKey } from "../src/keyring/tier.js";
import { RING_OBJECT_NAME } from "../src/services.js";
import type { Region } from "../src/replay/regions.js";
import { Faults, kvView, wrapNamespace, type BindingContext } from "./bindings.js";
import { cacheView, LocationCaches } from "./cache.js";
import { VirtualClock } from "./clock.js";
import { DEFAULT_KV, KvModel, spreadDelays, type KvSettings } from "./kv.js";
import { DEFAULT_LATENCY, DEFAULT_TOPOLOGY, LatencyModel, Placement, type LatencySettings, type LocationSpec, type Topology } from "./latency.js";
import { Meter, OBJECT_CALLER } from "./meter.js";
import { chargeObject, emptyMeter, objectHooks, type FleetObjectHooks, type ObjectBindings, type ObjectMeter } from "./objects.js";
import { Random } from "./random.js";
import { isolateRandomness, type IsolateRandomness } from "./runtime.js";

/** Far ahead of the real clock (2033), so workerd never fires an alarm set for service-clock time. */
export const FLEET_START_MS = 2_000_000_000_000;

/** How long a play waits, past its end, for requests still in flight (virtual ms). */
const DRAIN_LIMIT_MS = 60_000;

/** The settings an isolate reads from its environment (vars and secrets), not its bindings. */
export type FleetVars = Partial<Record<Exclude<keyof Env, "SESSIONS" | "KEY_RING" | "KEY_VAULT" | "REPLAY_GUARD" | "METRICS">, string>>;

export interface FleetOptions {
  /** The Worker's environment: the real Durable Object namespaces and the settings (MASTER_KEY, API_TOKENS, CONTEXTS...). */
  env: Env;
  /** A bearer token whose context the workload uses, with the tickets, sessions, keys and admin scopes. */
  token: string;
  topology?: Topology;
  latency?: Partial<LatencySettings>;
  kv?: Partial<KvSettings>;
  seed?: number;
  startMs?: number;
  /** The ring object's name (tests give each test its own ring); the service's "ring" by default. */
  ringName?: string;
  quietTurns?: number;
}

export interface Answer {
  status: number;
  body: any;
  latency: number;
  /** The error code of a 4xx/5xx answer. */
  code: string | undefined;
}

export interface RequestOptions {
  body?: unknown;
  /** The workload's name for the request (seal, open...); defaults to method and path. */
  op?: string;
  /** On a terminator's handshake path (counted against the 100 ms deadline). */
  handshake?: boolean;
  /** The region the ticket or session it uses was issued in. */
  issuedIn?: string;
}

function snapshotUsage(): Map<string, ObjectMeter> {
  return new Map([...objectHooks.meters].map(([key, m]) => [key, { ...m }]));
}

export class Isolate {
  /** Restarts of this slot: each one a new, cold isolate. */
  generation = 0;
  /** Answers given since this isolate started: 0 means cold. */
  answered = 0;
  app!: ReturnType<typeof createApp>;
  env!: Env;
  /** Its own random streams (crypto.getRandomValues, Math.random), fleet/runtime.ts. */
  randomness!: IsolateRandomness;

  constructor(
    readonly id: number,
    readonly location: LocationSpec,
  ) {}

  get cold(): boolean {
    return this.answered === 0;
  }
}

const BACKGROUND: ExecutionContext = {
  // The app keeps background work (a ring refresh) alive with waitUntil; here it simply runs on.
  waitUntil: (p: Promise<unknown>) => void p.catch(() => undefined),
  passThroughOnException: () => undefined,
  props: {},
} as ExecutionContext;

export class Fleet {
  /** How fleet/bindings.ts names the ring object: for placement, outages and counts. */
  get ringKey(): string {
    return `KEY_RING:${this.ringName}`;
  }

  /** Virtual ms since the fleet started: what a run's randomness may depend on (not the start itself). */
  get elapsed(): number {
    return this.clock.now - this.startMs;
  }

  private readonly startMs: number;

  readonly clock: VirtualClock;
  readonly random: Random;
  readonly latency: LatencyModel;
  readonly placement = new Placement();
  readonly kv: KvModel;
  /** Each location's Cache API (the ring's read tier reads it before KV). */
  readonly caches = new LocationCaches();
  /** Each location's KV propagation delay (ms): how long a write from elsewhere takes to be visible there. */
  readonly kvDelays: Map<string, number>;
  readonly meter = new Meter();
  readonly faults = new Faults();
  readonly topology: Topology;
  readonly isolates: Isolate[] = [];
  /** The settings new isolates start with; a deploy may change them. */
  vars: FleetVars;
  readonly token: string;
  /** The ring object's name: the service's own unless the options name another. */
  readonly ringName: string;
  private readonly alarms = new Map<string, { cancelled: boolean }>();
  /** Each object's own bindings (its KV and vault calls), built on its first call. */
  private readonly objectBindings = new Map<string, ObjectBindings>();
  private readonly usage = new Map<string, ObjectMeter>();
  private usageAtStart = new Map<string, ObjectMeter>();

  constructor(private readonly options: FleetOptions) {
    this.startMs = options.startMs ?? FLEET_START_MS;
    this.clock = new VirtualClock(this.startMs, { quietTurns: options.quietTurns });
    this.random = new Random(options.seed ?? 1);
    this.topology = options.topology ?? DEFAULT_TOPOLOGY;
    this.latency = new LatencyModel({ ...DEFAULT_LATENCY, ...options.latency });
    const kvSettings = { ...DEFAULT_KV, ...options.kv };
    this.kvDelays = spreadDelays(this.topology.locations.map((l) => l.name), kvSettings.propagation_max_s, (items) => this.random.fork("kv").shuffle(items));
    this.kv = new KvModel(kvSettings, (location) => this.kvDelays.get(location) ?? 0);
    this.token = options.token;
    this.ringName = options.ringName ?? RING_OBJECT_NAME;
    const { SESSIONS: _kv, KEY_RING: _ring, KEY_VAULT: _vault, REPLAY_GUARD: _guard, METRICS: _metrics, ...vars } = options.env;
    this.vars = vars as FleetVars;
    for (const location of this.topology.locations) {
      for (let i = 0; i < location.isolates; i++) {
        const isolate = new Isolate(this.isolates.length, location);
        this.start(isolate);
        this.isolates.push(isolate);
      }
    }
    objectHooks.envOverrides = {};
    objectHooks.onAlarm = (key, at) => this.alarmSet(key, at);
    objectHooks.track = (work, label, meterKey) => this.clock.track(work, label, meterKey);
    objectHooks.now = () => this.clock.now;
    objectHooks.bindings = (meterKey) => this.bindingsOfObject(meterKey);
  }

  /**
   * What an object's own calls go through: the KV model and the vault's
   * namespace, from the region the object was placed in. An object is in
   * none of the simulated locations (its data center serves no isolate
   * here), so every location sees its KV writes after that location's own
   * propagation delay.
   */
  private bindingsOfObject(meterKey: string): ObjectBindings {
    let views = this.objectBindings.get(meterKey);
    if (!views) {
      const region = this.placement.regionOf(meterKey) ?? this.topology.regions[0]!;
      const ctx: BindingContext = {
        clock: this.clock,
        latency: this.latency,
        random: this.random.fork(`latency:${meterKey}`),
        placement: this.placement,
        meter: this.meter,
        faults: this.faults,
        caller: { isolate: OBJECT_CALLER, location: meterKey, region },
        wait: (ms) => {
          chargeObject(ms);
          return Promise.resolve();
        },
        owner: meterKey,
      };
      views = { SESSIONS: kvView(this.kv, ctx), KEY_VAULT: wrapNamespace("KEY_VAULT", this.options.env.KEY_VAULT, ctx) };
      this.objectBindings.set(meterKey, views);
    }
    return views;
  }

  /** A new app in this slot: an isolate starting cold, with the current settings. */
  start(isolate: Isolate): void {
    isolate.generation++;
    isolate.answered = 0;
    const ctx: BindingContext = {
      clock: this.clock,
      latency: this.latency,
      random: this.random.fork(`latency:${isolate.id}:${isolate.generation}`),
      placement: this.placement,
      meter: this.meter,
      faults: this.faults,
      caller: { isolate: isolate.id, location: isolate.location.name, region: isolate.location.region },
      wait: (ms) => this.clock.sleep(ms),
    };
    const ringCache = cacheView(this.caches, ctx);
    isolate.randomness = {
      bytes: this.random.fork(`getRandomValues:${isolate.id}:${isolate.generation}`),
      math: this.random.fork(`Math.random:${isolate.id}:${isolate.generation}`),
    };
    isolate.app = createApp({
      clock: () => this.clock.now,
      ringName: this.ringName,
      writeLog: () => undefined,
      jwksFetch: () => Promise.reject(new TypeError("no network in the fleet simulator")),
      // The location's own Cache API and the location's region, as the platform gives an isolate.
      ringCache: () => ringCache,
      region: isolate.location.region as Region,
    });
    const base = this.options.env;
    isolate.env = {
      ...(this.vars as Env),
      SESSIONS: kvView(this.kv, ctx),
      KEY_RING: wrapNamespace("KEY_RING", base.KEY_RING, ctx),
      // Only the ring object calls the vault; were an isolate to, it would be counted and charged too.
      KEY_VAULT: wrapNamespace("KEY_VAULT", base.KEY_VAULT, ctx),
      REPLAY_GUARD: wrapNamespace("REPLAY_GUARD", base.REPLAY_GUARD, ctx),
    };
  }

  /**
   * A deploy: every isolate restarts cold, with `vars` changed if given, and
   * every Durable Object instance restarts too (with the new settings, where
   * the simulator Worker's metered classes are bound).
   */
  async deploy(vars: FleetVars = {}): Promise<void> {
    this.vars = { ...this.vars, ...vars };
    Object.assign(objectHooks.envOverrides, vars);
    for (const isolate of this.isolates) this.start(isolate);
    for (const key of objectHooks.meters.keys()) {
      const stub = this.objectStub(key);
      await this.clock.track(Promise.resolve(stub.fleetRestart()).catch(() => undefined), "restart");
      // What the old instance was doing never finishes.
      this.clock.abandon(key);
    }
  }

  /**
   * Runs every script and the clock for `ms` virtual milliseconds, then on
   * until the scripts' last requests have answered (at most DRAIN_LIMIT_MS).
   */
  async play(ms: number, ...scripts: ((end: number) => Promise<void>)[]): Promise<void> {
    const end = this.clock.now + ms;
    const phase = this.meter.phase;
    const startedAt = this.clock.now;
    let done = false;
    const all = Promise.all(scripts.map((s) => s(end)));
    all.then(
      () => (done = true),
      () => (done = true),
    );
    await this.clock.runUntil(end);
    while (!done) {
      if (this.clock.now - end > DRAIN_LIMIT_MS) throw new Error(`fleet: requests still unanswered ${DRAIN_LIMIT_MS} ms after the end of the play`);
      await this.clock.runUntil(this.clock.now + 100);
    }
    if (phase !== undefined) this.meter.spans.push({ phase, from: startedAt, to: this.clock.now });
    await all;
  }

  /** Records what happens from now on under `phase`; undefined stops recording. */
  measure(phase: string | undefined): void {
    if (this.meter.phase === undefined && phase !== undefined) this.usageAtStart = snapshotUsage();
    if (this.meter.phase !== undefined && phase === undefined) this.addUsageSince(this.usageAtStart);
    this.meter.phase = phase;
  }

  /** Storage use of each Durable Object while measured (metered classes only; empty otherwise). */
  objectUsage(): Map<string, ObjectMeter> {
    if (this.meter.phase !== undefined) {
      // Still measuring: include the time so far.
      this.addUsageSince(this.usageAtStart);
      this.usageAtStart = snapshotUsage();
    }
    return this.usage;
  }

  private addUsageSince(start: Map<string, ObjectMeter>): void {
    for (const [key, now] of snapshotUsage()) {
      const was = start.get(key);
      const total = this.usage.get(key) ?? emptyMeter();
      for (const field of Object.keys(total) as (keyof ObjectMeter)[]) total[field] += now[field] - (was?.[field] ?? 0);
      this.usage.set(key, total);
    }
  }

  /** One request to one isolate, through its app, timed on the virtual clock and recorded. */
  async request(isolate: Isolate, method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers["content-type"] = "application/json";
      // As a terminator's HTTP client sends it.
      headers["content-length"] = String(new TextEncoder().encode(body).length);
    }
    const cold = isolate.cold;
    const generation = isolate.generation;
    const t = this.clock.now;
    this.clock.touch();
    const request = new Request(`http://fleet.invalid${path}`, { method, headers, body });
    const response = await isolateRandomness.run(isolate.randomness, () => isolate.app.fetch(request, isolate.env, BACKGROUND));
    const latency = this.clock.now - t;
    const text = await response.text();
    this.clock.touch();
    if (isolate.generation === generation) isolate.answered++;
    const parsed = text ? JSON.parse(text) : undefined;
    const code = response.status >= 400 ? parsed?.error?.code : undefined;
    this.meter.request({
      op: options.op ?? `${method} ${path}`,
      t,
      latency,
      status: response.status,
      code,
      cold,
      handshake: options.handshake ?? false,
      ...(options.issuedIn !== undefined && { issuedIn: options.issuedIn }),
      isolate: isolate.id,
      location: isolate.location.name,
      region: isolate.location.region,
    });
    return { status: response.status, body: parsed, latency, code };
  }

  /** The ring's read tier is lost (a fault to inject): its KV key gone everywhere at once, every location's cache emptied. */
  loseRingTier(): void {
    this.kv.forget(tierKey(this.ringName));
    this.caches.clear();
  }

  isolatesIn(location: string): Isolate[] {
    return this.isolates.filter((i) => i.location.name === location);
  }

  /** Isolates in a region other than `region`. */
  isolatesOutside(region: string): Isolate[] {
    return this.isolates.filter((i) => i.location.region !== region);
  }

  /** A Durable Object stub the platform itself uses (alarms, restarts): not wrapped, not counted. */
  private objectStub(meterKey: string): FleetObjectHooks {
    const colon = meterKey.indexOf(":");
    const binding = meterKey.slice(0, colon) as "KEY_RING" | "KEY_VAULT" | "REPLAY_GUARD";
    const namespace = this.options.env[binding] as unknown as DurableObjectNamespace;
    return namespace.get(namespace.idFromName(meterKey.slice(colon + 1))) as unknown as FleetObjectHooks;
  }

  /** An object set (or deleted) its alarm: fire it when virtual time gets there. */
  private alarmSet(meterKey: string, at: number | null): void {
    const previous = this.alarms.get(meterKey);
    if (previous) previous.cancelled = true;
    if (at === null) {
      this.alarms.delete(meterKey);
      return;
    }
    const timer = this.clock.schedule(at, () => {
      if (this.alarms.get(meterKey) === timer) this.alarms.delete(meterKey);
      // The platform's own call: nobody waits for its answer (nor for what the alarm's own calls owe).
      void this.clock.track(this.objectStub(meterKey).fleetCall("fleetAlarm", [Math.max(at, this.clock.now)]), `${meterKey} alarm`).catch(() => undefined);
    });
    this.alarms.set(meterKey, timer);
  }

  /** Stops listening to the objects' alarms (the fleet is done). */
  close(): void {
    objectHooks.onAlarm = undefined;
    objectHooks.track = undefined;
    objectHooks.now = undefined;
    objectHooks.bindings = undefined;
    for (const timer of this.alarms.values()) timer.cancelled = true;
    this.alarms.clear();
  }
}
