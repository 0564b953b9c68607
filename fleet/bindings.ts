/**
 * The bindings one isolate sees: the real Durable Object namespaces and the
 * KV model, wrapped so that every call costs its modelled latency on the
 * virtual clock, is counted (per operation, per object or key, per caller),
 * and can be made to fail as an outage would. The service cannot tell them
 * from the platform's: they keep the binding's shape.
 */
import type { VirtualClock } from "./clock.js";
import { KV_LIMITS, KvRateLimitError, type KvModel } from "./kv.js";
import type { LatencyModel, Placement } from "./latency.js";
import type { Caller, Meter } from "./meter.js";
import type { FleetObjectHooks, FleetReply } from "./objects.js";
import type { Random } from "./random.js";

/** Injected outages: a Durable Object that cannot be reached between two virtual times. */
export class Faults {
  private readonly outages: { objectKey: string; from: number; to: number }[] = [];

  objectDown(objectKey: string, from: number, to: number): void {
    this.outages.push({ objectKey, from, to });
  }

  isDown(objectKey: string, now: number): boolean {
    return this.outages.some((o) => o.objectKey === objectKey && now >= o.from && now < o.to);
  }
}

export interface BindingContext {
  clock: VirtualClock;
  latency: LatencyModel;
  /** The caller's own random stream, for latency jitter. */
  random: Random;
  placement: Placement;
  meter: Meter;
  faults: Faults;
  caller: Caller;
  /**
   * How the caller waits out a call's latency: clock.sleep for an isolate; for
   * a Durable Object's own calls, charged to the calls it is serving
   * (fleet/objects.ts chargeObject), at once.
   */
  wait: (ms: number) => Promise<void>;
  /** For a Durable Object's own calls: the object (its real work is abandoned when it restarts, fleet/clock.ts). */
  owner?: string;
}

/** How the simulator names a Durable Object instance: its binding and its name (KEY_RING:ring, REPLAY_GUARD:replay:7). */
export function objectKey(binding: string, id: DurableObjectId): string {
  return `${binding}:${id.name ?? id.toString()}`;
}

/** A Durable Object namespace whose stubs pay a round trip to wherever their object lives. */
export function wrapNamespace<T>(binding: string, namespace: T, ctx: BindingContext): T {
  const real = namespace as unknown as DurableObjectNamespace;
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "get") {
        return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) =>
          wrapStub(binding, id, () => target.get(id, options) as unknown as DurableObjectStub, ctx, options?.locationHint);
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  }) as unknown as T;
}

/** A call an object answered with a failure: thrown as the platform's stub throws it. */
function objectError(reply: FleetReply & { ok: false }): Error {
  const error = new Error(reply.message);
  error.name = reply.name;
  return error;
}

function wrapStub(binding: string, id: DurableObjectId, stub: () => DurableObjectStub, ctx: BindingContext, locationHint: string | undefined): DurableObjectStub {
  const key = objectKey(binding, id);
  const name = id.name ?? id.toString();
  let real: DurableObjectStub | undefined;
  return new Proxy({} as DurableObjectStub, {
    get(_, prop) {
      if (prop === "id") return id;
      if (prop === "name") return id.name;
      // Not a thenable: `await stub` must not look for RPC methods.
      if (typeof prop !== "string" || prop === "then") return undefined;
      return async (...args: unknown[]) => {
        const { clock, latency, placement, meter, faults, caller, random, wait } = ctx;
        const t = clock.now;
        const rtt = latency.doRoundTrip(caller.region, placement.place(key, caller.region, locationHint), random);
        const there = Math.floor(rtt / 2);
        const record = (ok: boolean, failure?: "down" | "error") =>
          meter.call({ kind: "do", op: `${binding}.${prop}`, target: name, t, ok, ...(failure && { failure }), ...caller });
        await wait(there);
        if (faults.isDown(key, clock.now)) {
          await wait(rtt - there);
          record(false, "down");
          throw new Error(`${binding} object ${name} is unreachable (injected outage)`);
        }
        real ??= stub();
        let reply: FleetReply;
        try {
          reply = await clock.track((real as unknown as FleetObjectHooks).fleetCall(prop, args), `${binding}.${prop}`, ctx.owner);
        } catch (e) {
          // The call never got an answer (the object was reset).
          await wait(rtt - there);
          record(false, "error");
          throw e;
        }
        // The object's own calls (its KV writes, its vault) took their time before it answered.
        await wait(reply.owedMs + rtt - there);
        record(reply.ok, reply.ok ? undefined : "error");
        if (!reply.ok) throw objectError(reply);
        return reply.value;
      };
    },
  });
}

type GetType = "text" | "json" | "arrayBuffer" | "stream";

function notModelled(what: string): never {
  throw new Error(`KV ${what} is not modelled by the fleet simulator (fleet/bindings.ts)`);
}

function checkKey(key: string): void {
  if (key === "" || new TextEncoder().encode(key).length > KV_LIMITS.maxKeyBytes) {
    throw new Error(`KV key must be 1 to ${KV_LIMITS.maxKeyBytes} bytes`);
  }
}

function toBytes(value: unknown): Uint8Array {
  if (typeof value === "string") return new TextEncoder().encode(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  return notModelled("put of a stream");
}

/** The KV namespace as one isolate of one location sees it: the shared model, with latency and counting. */
export function kvView(model: KvModel, ctx: BindingContext): KVNamespace {
  const { clock, latency, meter, caller, random, wait } = ctx;
  const record = (op: string, key: string, t: number, ok: boolean, failure?: "refused" | "error") =>
    meter.call({ kind: "kv", op, target: key, t, ok, ...(failure && { failure }), ...caller });

  async function write(kind: "put" | "delete", key: string, value: Uint8Array | undefined, ttl: number | undefined): Promise<void> {
    const t = clock.now;
    const ms = latency.kvWrite(random);
    await wait(ms);
    try {
      // Where it lands, when it lands: for an object, whose wait costs it no virtual time, still ms from now.
      model.write(caller.location, key, value, t + ms, ttl);
    } catch (e) {
      record(kind, key, t, false, e instanceof KvRateLimitError ? "refused" : "error");
      throw e;
    }
    record(kind, key, t, true);
  }

  const view = {
    async get(key: string, typeOrOptions?: GetType | { type?: GetType; cacheTtl?: number }) {
      checkKey(key);
      const options = typeof typeOrOptions === "string" ? { type: typeOrOptions } : (typeOrOptions ?? {});
      const type = options.type ?? "text";
      if (type === "stream") notModelled("get as a stream");
      const t = clock.now;
      const { value, hot } = model.read(caller.location, key, t, options.cacheTtl);
      await wait(latency.kvRead(hot, random));
      record(hot ? "get.hot" : "get.cold", key, t, true);
      if (value === undefined) return null;
      if (type === "arrayBuffer") return value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength);
      const text = new TextDecoder().decode(value);
      return type === "json" ? JSON.parse(text) : text;
    },
    async put(key: string, value: unknown, options: { expirationTtl?: number; expiration?: number; metadata?: unknown } = {}) {
      checkKey(key);
      if (options.metadata !== undefined) notModelled("metadata");
      let ttl = options.expirationTtl;
      if (options.expiration !== undefined) ttl = options.expiration - clock.now / 1000;
      if (ttl !== undefined && ttl < KV_LIMITS.minExpirationTtl) {
        throw new Error(`KV PUT failed: 400 Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least ${KV_LIMITS.minExpirationTtl}.`);
      }
      const bytes = toBytes(value);
      if (bytes.length > KV_LIMITS.maxValueBytes) throw new Error("KV PUT failed: 413 Value length exceeds limit");
      await write("put", key, bytes, ttl);
    },
    async delete(key: string) {
      checkKey(key);
      await write("delete", key, undefined, undefined);
    },
    getWithMetadata: () => notModelled("getWithMetadata"),
    list: () => notModelled("list"),
  };
  return view as unknown as KVNamespace;
}
