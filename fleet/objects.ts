/**
 * The service's Durable Object classes as the simulator Worker exports them:
 * the real KeyRingObject, KeyVaultObject and ReplayGuardObject, unchanged,
 * each with a meter on its storage (SQLite rows written; keys
 * written, read and deleted on the key-value backend; setAlarm and
 * deleteAlarm calls; alarms run) and the hooks the platform would otherwise
 * provide:
 *
 * - the fleet's clock: the objects' own clock() (the ring's republish
 *   interval, the replay guard's purge times) is virtual time, as their
 *   callers' is;
 * - their own bindings: an object's KV writes (the ring's publications, the
 *   replay guard's deferred purges) go to the fleet's KV model, and the ring
 *   object's calls to its key vault are Durable Object calls, both made from
 *   where the object was placed (objectHooks.bindings). They take no virtual
 *   time inside the object: workerd does not resume an object's code when a
 *   promise it awaits is settled from the fleet's own request, where virtual
 *   timers fire. Each call's latency is owed instead by the call the object
 *   made it for (fleetCall answers with it, and the caller waits it out),
 *   and a KV write lands in the model when its latency has passed;
 * - alarms on virtual time: the object's alarm times are service-clock times
 *   (far in the future of the real clock, so workerd never fires them); the
 *   fleet fires each one when virtual time reaches it (fleetAlarm);
 * - a restart with a new environment (fleetRestart), as a deploy that
 *   changes MASTER_KEY restarts every object with the new secret.
 *
 * In workerd the objects run in the simulator Worker's isolate, so the meters
 * and hooks are module state shared with the fleet.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env.js";
import { KeyRingObject as ServiceKeyRingObject } from "../src/keyring/object.js";
import { KeyVaultObject as ServiceKeyVaultObject } from "../src/keyring/vault.js";
import { ReplayGuardObject as ServiceReplayGuardObject } from "../src/replay/object.js";

export interface ObjectMeter {
  /** SQLite rows written (tables and indexes), as Durable Objects bill them. */
  rowsWritten: number;
  /** Key-value storage backend: keys written, read (found or not) and deleted, each at most 4 KB here: one billed unit each. */
  keysWritten: number;
  keysRead: number;
  keysDeleted: number;
  setAlarm: number;
  deleteAlarm: number;
  alarmsRun: number;
  /** Of the rows written and alarms set, those written or set while alarm() ran (no request caused them). */
  rowsWrittenByAlarms: number;
  setAlarmByAlarms: number;
  /** Times an instance was constructed (first use, restarts, and workerd's evictions of idle instances). */
  starts: number;
}

export const emptyMeter = (): ObjectMeter => ({
  rowsWritten: 0,
  keysWritten: 0,
  keysRead: 0,
  keysDeleted: 0,
  setAlarm: 0,
  deleteAlarm: 0,
  alarmsRun: 0,
  rowsWrittenByAlarms: 0,
  setAlarmByAlarms: 0,
  starts: 0,
});

/** The bindings an object's own calls go through while a fleet runs. */
export type ObjectBindings = Pick<Env, "SESSIONS" | "KEY_VAULT">;

/**
 * What fleetCall answers: the method's result, or its failure (RPC drops a
 * thrown error's class, so it comes back as a value and the caller throws),
 * and the latency the object's own calls cost while serving it.
 */
export type FleetReply = ({ ok: true; value: unknown } | { ok: false; name: string; message: string }) & { owedMs: number };

/** The call an object is serving (fleetCall), through every await of its method: what its own calls cost is owed by it. */
const serving = new AsyncLocalStorage<{ owedMs: number; answered: boolean }>();

/**
 * An object's own call cost `ms`: the call it was made for waits that long
 * more before its answer reaches the caller. Work the object left running
 * after answering (the ring's republication when asked) makes nobody wait.
 */
export function chargeObject(ms: number): void {
  const call = serving.getStore();
  if (call && !call.answered) call.owedMs += ms;
}

/** Module state shared by the objects and the fleet (one isolate in workerd). */
export const objectHooks = {
  meters: new Map<string, ObjectMeter>(),
  /** Settings the next instance of every object starts with (a deploy's new secrets). */
  envOverrides: {} as Partial<Record<"MASTER_KEY" | "API_TOKENS" | "CONTEXTS" | "KEY_RING_SETTINGS" | "REPLAY_GUARD_SHARDS" | "JWT_ISSUERS", string>>,
  /** Told of every alarm an object sets (ms) or deletes (null). */
  onAlarm: undefined as ((meterKey: string, at: number | null) => void) | undefined,
  /**
   * Tracks an object's own real asynchronous work on the fleet's clock: the
   * replay guard arms its sweep after answering (a floating promise), the
   * vault's storage calls.
   */
  track: undefined as (<T>(work: Promise<T>, label: string, meterKey: string) => Promise<T>) | undefined,
  /** The fleet's clock, ms: every object's clock(). */
  now: undefined as (() => number) | undefined,
  /** The bindings an object's own KV and vault calls go through (by the object's meter key); the platform's when no fleet runs. */
  bindings: undefined as ((meterKey: string) => ObjectBindings) | undefined,
  reset(): void {
    this.meters.clear();
    this.envOverrides = {};
    this.onAlarm = undefined;
    this.track = undefined;
    this.now = undefined;
    this.bindings = undefined;
  },
};

/** The binding each class is reached by, as fleet/bindings.ts names objects (KEY_RING:ring, REPLAY_GUARD:replay:enam:7). */
const BINDING_OF_CLASS = { KeyRingObject: "KEY_RING", KeyVaultObject: "KEY_VAULT", ReplayGuardObject: "REPLAY_GUARD" } as const;

/** The meter of one instance, and whether its alarm() is running (what it writes then, no request caused). */
interface InstanceMeter {
  meter: ObjectMeter;
  inAlarm: boolean;
}

/** Tracks an object's real work on the fleet's clock, as the object's (abandoned if it restarts). */
const trackedFor =
  (meterKey: string) =>
  <T>(work: Promise<T>, label: string): Promise<T> =>
    objectHooks.track?.(work, label, meterKey) ?? work;

/** Counts SQLite rows written through `sql.exec`. */
function meterSql(storage: DurableObjectStorage, instance: InstanceMeter): void {
  const m = instance.meter;
  const sql = storage.sql;
  const exec = sql.exec.bind(sql);
  sql.exec = ((query: string, ...bindings: unknown[]) => {
    const cursor = exec(query, ...bindings);
    m.rowsWritten += cursor.rowsWritten;
    if (instance.inAlarm) m.rowsWrittenByAlarms += cursor.rowsWritten;
    return cursor;
  }) as typeof sql.exec;
}

/** Counts keys written, read and deleted through the key-value storage API, and tracks each call on the clock. */
function meterKeyValue(storage: DurableObjectStorage, m: ObjectMeter, meterKey: string): void {
  const tracked = trackedFor(meterKey);
  const keys = (k: unknown) => (Array.isArray(k) ? k.length : 1);
  const get = storage.get.bind(storage) as (k: unknown, o?: unknown) => Promise<unknown>;
  storage.get = ((k: unknown, o?: unknown) => {
    m.keysRead += keys(k);
    return tracked(get(k, o), "storage.get");
  }) as typeof storage.get;
  const put = storage.put.bind(storage) as (k: unknown, v?: unknown, o?: unknown) => Promise<void>;
  storage.put = ((k: unknown, v?: unknown, o?: unknown) => {
    m.keysWritten += typeof k === "string" ? 1 : Object.keys(k as object).length;
    return tracked(put(k, v, o), "storage.put");
  }) as typeof storage.put;
  const del = storage.delete.bind(storage) as (k: unknown, o?: unknown) => Promise<unknown>;
  storage.delete = ((k: unknown, o?: unknown) => {
    m.keysDeleted += keys(k);
    return tracked(del(k, o), "storage.delete");
  }) as typeof storage.delete;
  const list = storage.list.bind(storage) as (o?: unknown) => Promise<Map<string, unknown>>;
  storage.list = ((o?: unknown) =>
    tracked(
      list(o).then((found) => {
        // Billed as a read of each key listed.
        m.keysRead += found.size;
        return found;
      }),
      "storage.list",
    )) as typeof storage.list;
}

function meterAlarms(storage: DurableObjectStorage, instance: InstanceMeter, meterKey: string): void {
  const m = instance.meter;
  const tracked = trackedFor(meterKey);
  const getAlarm = storage.getAlarm.bind(storage);
  storage.getAlarm = (options) => tracked(getAlarm(options), "getAlarm");
  const setAlarm = storage.setAlarm.bind(storage);
  storage.setAlarm = (time, options) => {
    m.setAlarm++;
    if (instance.inAlarm) m.setAlarmByAlarms++;
    return tracked(
      setAlarm(time, options).then(() => objectHooks.onAlarm?.(meterKey, time instanceof Date ? time.getTime() : time)),
      "setAlarm",
    );
  };
  const deleteAlarm = storage.deleteAlarm.bind(storage);
  storage.deleteAlarm = (options) => {
    m.deleteAlarm++;
    return tracked(
      deleteAlarm(options).then(() => objectHooks.onAlarm?.(meterKey, null)),
      "deleteAlarm",
    );
  };
}

function meterStorage(ctx: DurableObjectState, meterKey: string, backend: "sqlite" | "kv"): InstanceMeter {
  let meter = objectHooks.meters.get(meterKey);
  if (!meter) {
    meter = emptyMeter();
    objectHooks.meters.set(meterKey, meter);
  }
  const instance: InstanceMeter = { meter, inAlarm: false };
  meter.starts++;
  // A key-value backed object has no SQL API (reading ctx.storage.sql throws).
  if (backend === "sqlite") meterSql(ctx.storage, instance);
  meterKeyValue(ctx.storage, meter, meterKey);
  meterAlarms(ctx.storage, instance, meterKey);
  return instance;
}

/**
 * The environment an object sees: its Worker's, with a deploy's new settings,
 * and with SESSIONS and KEY_VAULT resolved at each use to the running
 * fleet's views (the KV model, the wrapped vault namespace), so that an
 * object living across fleets (the test slice's replay shards) always calls
 * through the current one.
 */
function objectEnv(env: Env, meterKey: string): Env {
  const base = { ...env, ...objectHooks.envOverrides } as Env;
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === "SESSIONS" || prop === "KEY_VAULT") {
        const views = objectHooks.bindings?.(meterKey);
        if (views) return views[prop];
      }
      return Reflect.get(target, prop, receiver);
    },
  });
}

type ServiceObject = DurableObject<Env> & { clock?: () => number; alarm?(): Promise<void> };

function metered<C extends keyof typeof BINDING_OF_CLASS>(className: C, Base: new (ctx: DurableObjectState, env: Env) => ServiceObject, backend: "sqlite" | "kv") {
  return class extends Base {
    private readonly fleetMeter: InstanceMeter;
    private readonly deleteStoredAlarm: () => Promise<void>;

    constructor(ctx: DurableObjectState, env: Env) {
      const deleteStoredAlarm = ctx.storage.deleteAlarm.bind(ctx.storage);
      const meterKey = `${BINDING_OF_CLASS[className]}:${ctx.id.name ?? ctx.id.toString()}`;
      const meter = meterStorage(ctx, meterKey, backend);
      super(ctx, objectEnv(env, meterKey));
      this.fleetMeter = meter;
      this.deleteStoredAlarm = () => deleteStoredAlarm();
      if (this.clock) this.clock = () => objectHooks.now?.() ?? Date.now();
    }

    /** Every call the fleet makes, by method name, answered with the latency the object's own calls owe (chargeObject). */
    fleetCall(method: string, args: unknown[]): Promise<FleetReply> {
      const call = { owedMs: 0, answered: false };
      return serving.run(call, async (): Promise<FleetReply> => {
        try {
          const fn = (this as unknown as Record<string, (...a: unknown[]) => unknown>)[method];
          if (typeof fn !== "function" || method === "fleetCall") throw new TypeError(`${className} has no method ${method}`);
          const value = await fn.apply(this, args);
          return { ok: true, value, owedMs: call.owedMs };
        } catch (e) {
          return { ok: false, name: e instanceof Error ? e.name : "Error", message: e instanceof Error ? e.message : String(e), owedMs: call.owedMs };
        } finally {
          call.answered = true;
        }
      });
    }

    /** The platform's alarm at virtual time `nowMs`: the stored alarm is cleared, then alarm() runs. */
    async fleetAlarm(nowMs: number): Promise<void> {
      if (!this.alarm) return;
      const at = await this.ctx.storage.getAlarm();
      if (at === null || at > nowMs) return;
      await this.deleteStoredAlarm();
      this.fleetMeter.meter.alarmsRun++;
      this.fleetMeter.inAlarm = true;
      try {
        await this.alarm();
      } finally {
        this.fleetMeter.inAlarm = false;
      }
    }

    /** Ends this instance (the next call starts a new one, with objectHooks.envOverrides). */
    fleetRestart(): void {
      this.ctx.abort("fleet: restarted by a deploy");
    }
  };
}

export const KeyRingObject = metered("KeyRingObject", ServiceKeyRingObject, "sqlite");
export const ReplayGuardObject = metered("ReplayGuardObject", ServiceReplayGuardObject, "sqlite");
// The vault's class has no Env type parameter (it reads no binding); the metered one passes the Worker's env all the same.
export const KeyVaultObject = metered("KeyVaultObject", ServiceKeyVaultObject as unknown as new (ctx: DurableObjectState, env: Env) => ServiceObject, "kv");

/** What the fleet may call on a metered object. */
export interface FleetObjectHooks {
  fleetCall(method: string, args: unknown[]): Promise<FleetReply>;
  fleetRestart(): void;
}
