/**
 * Fault injection for worker tests: bindings that fail as the platform can
 * (an outage of KV, of the ring's Durable Object, of the replay guard).
 * Pass them to a location: location(T0, { env: { SESSIONS: failingKv } }).
 */
import { env } from "cloudflare:workers";
import type { Env } from "../../src/env.js";

/** A KV namespace whose every call fails, as during an outage. */
export const failingKv = new Proxy({}, { get: () => () => Promise.reject(new Error("KV unavailable")) }) as unknown as KVNamespace;

/** The real namespace, but writes fail: reads work, nothing can be written. */
export const readOnlyKv = {
  get: (...args: Parameters<KVNamespace["get"]>) => (env.SESSIONS.get as (...a: unknown[]) => unknown)(...args),
  put: () => Promise.reject(new Error("KV write failed")),
  delete: () => Promise.reject(new Error("KV write failed")),
} as unknown as KVNamespace;

/** The ring's namespace, with a switch that makes its object unreachable. */
export function flakyRing(broken = false) {
  const state = { broken };
  const namespace = {
    idFromName: (name: string) => env.KEY_RING.idFromName(name),
    get: (id: DurableObjectId) =>
      state.broken
        ? { getRing: () => Promise.reject(new Error("unreachable")), rotate: () => Promise.reject(new Error("unreachable")), maintain: () => Promise.reject(new Error("unreachable")) }
        : env.KEY_RING.get(id),
  } as unknown as Env["KEY_RING"];
  return { state, namespace };
}

/** A replay-guard namespace whose objects cannot be reached. */
export const unreachableGuard = {
  idFromName: (name: string) => env.REPLAY_GUARD.idFromName(name),
  get: () => ({ consume: () => Promise.reject(new Error("Durable Object unreachable")) }),
} as unknown as Env["REPLAY_GUARD"];
