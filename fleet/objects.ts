/**
 * The service's Durable Object classes as the simulator Worker exports them:
 * the real KeyRingObject and ReplayGuardObject, unchanged, each with a meter
 * on its storage (SQLite rows written, setAlarm and deleteAlarm calls, alarms
 * run) and two hooks the platform would otherwise provide:
 *
 * - alarms on virtual time: the object's alarm times are service-clock times
 *   (far in the future of the real clock, so workerd never fires them); the
 *   fleet fires each one when virtual time reaches it (fleetAlarm);
 * - a restart with a new environment (fleetRestart), as a deploy that
 *   changes MASTER_KEY restarts every object with the new secret.
 *
 * In workerd the objects run in the simulator Worker's isolate, so the meters
 * and hooks are module state shared with the fleet.
 */
import type { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env.js";
import { KeyRingObject as ServiceKeyRingObject } from "../src/keyring/object.js";
import { ReplayGuardObject as ServiceReplayGuardObject } from "../src/replay/object.js";

export interface ObjectMeter {
  /** SQLite rows written (tables and indexes), as Durable Objects bill them. */
  rowsWritten: number;
  setAlarm: number;
  deleteAlarm: number;
  alarmsRun: number;
  /** Of the rows written and alarms set, those written or set by alarm() itself (no request caused them). */
  rowsWrittenByAlarms: number;
  setAlarmByAlarms: number;
  /** Times an instance was constructed (first use, restarts, and workerd's evictions of idle instances). */
  starts: number;
}

export const emptyMeter = (): ObjectMeter => ({ rowsWritten: 0, setAlarm: 0, deleteAlarm: 0, alarmsRun: 0, rowsWrittenByAlarms: 0, setAlarmByAlarms: 0, starts: 0 });

/** Module state shared by the objects and the fleet (one isolate in workerd). */
export const objectHooks = {
  meters: new Map<string, ObjectMeter>(),
  /** Settings the next instance of every object starts with (a deploy's new secrets). */
  envOverrides: {} as Partial<Record<"MASTER_KEY" | "API_TOKENS" | "CONTEXTS" | "KEY_RING_SETTINGS" | "REPLAY_GUARD_SHARDS" | "JWT_ISSUERS", string>>,
  /** Told of every alarm an object sets (ms) or deletes (null). */
  onAlarm: undefined as ((meterKey: string, at: number | null) => void) | undefined,
  /**
   * Tracks an object's own alarm calls on the fleet's clock: the replay guard
   * arms its sweep after answering (a floating promise), work no request
   * waits for but the clock must.
   */
  track: undefined as (<T>(work: Promise<T>, label: string) => Promise<T>) | undefined,
  reset(): void {
    this.meters.clear();
    this.envOverrides = {};
    this.onAlarm = undefined;
    this.track = undefined;
  },
};

/** The key of an object's meter: its class binding and name, as fleet/bindings.ts names objects. */
const BINDING_OF_CLASS = { KeyRingObject: "KEY_RING", ReplayGuardObject: "REPLAY_GUARD" } as const;

/** The meter of one instance, and whether its alarm() is running (what it writes then, no request caused). */
interface InstanceMeter {
  meter: ObjectMeter;
  inAlarm: boolean;
}

function meterStorage(ctx: DurableObjectState, meterKey: string): InstanceMeter {
  let meter = objectHooks.meters.get(meterKey);
  if (!meter) {
    meter = emptyMeter();
    objectHooks.meters.set(meterKey, meter);
  }
  const instance: InstanceMeter = { meter, inAlarm: false };
  const m = meter;
  m.starts++;
  const storage = ctx.storage;
  const sql = storage.sql;
  const exec = sql.exec.bind(sql);
  sql.exec = ((query: string, ...bindings: unknown[]) => {
    const cursor = exec(query, ...bindings);
    m.rowsWritten += cursor.rowsWritten;
    if (instance.inAlarm) m.rowsWrittenByAlarms += cursor.rowsWritten;
    return cursor;
  }) as typeof sql.exec;
  const tracked = <T>(work: Promise<T>, label: string) => objectHooks.track?.(work, label) ?? work;
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
  return instance;
}

type ServiceObject = DurableObject<Env> & { clock: () => number; alarm(): Promise<void> };

function metered<C extends keyof typeof BINDING_OF_CLASS>(className: C, Base: new (ctx: DurableObjectState, env: Env) => ServiceObject) {
  return class extends Base {
    private readonly fleetMeter: InstanceMeter;
    private readonly deleteStoredAlarm: () => Promise<void>;

    constructor(ctx: DurableObjectState, env: Env) {
      const deleteStoredAlarm = ctx.storage.deleteAlarm.bind(ctx.storage);
      const meter = meterStorage(ctx, `${BINDING_OF_CLASS[className]}:${ctx.id.name ?? ctx.id.toString()}`);
      super(ctx, { ...env, ...objectHooks.envOverrides });
      this.fleetMeter = meter;
      this.deleteStoredAlarm = () => deleteStoredAlarm();
    }

    /** The platform's alarm at virtual time `nowMs`: the stored alarm is cleared, then alarm() runs on that clock. */
    async fleetAlarm(nowMs: number): Promise<void> {
      const at = await this.ctx.storage.getAlarm();
      if (at === null || at > nowMs) return;
      await this.deleteStoredAlarm();
      this.clock = () => nowMs;
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

export const KeyRingObject = metered("KeyRingObject", ServiceKeyRingObject);
export const ReplayGuardObject = metered("ReplayGuardObject", ServiceReplayGuardObject);

/** What the fleet may call on a metered object. */
export interface FleetObjectHooks {
  fleetAlarm(nowMs: number): Promise<void>;
  fleetRestart(): void;
}
