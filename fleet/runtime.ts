/**
 * Puts the runtime's own asynchronous work on the virtual clock while a
 * scenario runs, and takes it off again afterwards:
 *
 * - WebCrypto and body reads: tracked, so the clock never advances while a
 *   request is between two such steps (trackRuntime);
 * - randomness: crypto.getRandomValues and Math.random from the scenario's
 *   seed, a stream per simulated isolate (seedRandomness), so that a run
 *   can be repeated;
 * - timers (optional): setTimeout/clearTimeout become virtual, so a wait the
 *   service itself makes (a take's 1.1 s retry of a rate-limited delete)
 *   costs its virtual time. Only the simulator Worker installs them: the
 *   test runner inside workerd keeps real timers for its own timeouts.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { VirtualClock, Timer } from "./clock.js";
import type { Random } from "./random.js";

const SUBTLE_METHODS = [
  "encrypt", "decrypt", "sign", "verify", "digest", "generateKey", "deriveKey", "deriveBits", "importKey", "exportKey", "wrapKey", "unwrapKey",
] as const;

const BODY_METHODS = ["arrayBuffer", "text", "json", "bytes", "blob", "formData"] as const;

/** Wraps each named method of `proto` so that the promises it returns are tracked on `clock`; returns the undo. */
function trackMethods(clock: VirtualClock, proto: Record<string, unknown>, names: readonly string[], label: string): () => void {
  const originals = new Map<string, unknown>();
  for (const name of names) {
    const original = proto[name];
    if (typeof original !== "function") continue;
    originals.set(name, original);
    proto[name] = function (this: unknown, ...args: unknown[]) {
      return clock.track((original as (...a: unknown[]) => Promise<unknown>).apply(this, args), `${label}.${name}`);
    };
  }
  return () => {
    for (const [name, original] of originals) proto[name] = original;
  };
}

/**
 * Tracks on `clock` the runtime's asynchronous work that the service awaits
 * between two modelled waits: every SubtleCrypto operation, and reading a
 * request or response body (whole, or chunk by chunk from a stream). workerd
 * resolves these a real event-loop turn or more later, not as microtasks; the
 * clock must not move while one is pending. Returns the undo.
 */
export function trackRuntime(clock: VirtualClock): () => void {
  const undo = [
    trackMethods(clock, Object.getPrototypeOf(crypto.subtle) as Record<string, unknown>, SUBTLE_METHODS, "crypto"),
    trackMethods(clock, Request.prototype as unknown as Record<string, unknown>, BODY_METHODS, "Request"),
    trackMethods(clock, Response.prototype as unknown as Record<string, unknown>, BODY_METHODS, "Response"),
    trackMethods(clock, ReadableStreamDefaultReader.prototype as unknown as Record<string, unknown>, ["read"], "ReadableStreamDefaultReader"),
  ];
  return () => {
    for (const u of undo.reverse()) u();
  };
}

class VirtualTimeout {
  constructor(readonly timer: Timer) {}
}

/** setTimeout and clearTimeout on virtual time; returns the undo. setInterval is left real (the service uses none). */
export function installVirtualTimers(clock: VirtualClock): () => void {
  const g = globalThis as unknown as { setTimeout: unknown; clearTimeout: unknown };
  const realSet = g.setTimeout;
  const realClear = g.clearTimeout as (h: unknown) => void;
  g.setTimeout = (fn: (...args: unknown[]) => void, ms = 0, ...args: unknown[]) =>
    new VirtualTimeout(clock.schedule(clock.now + Math.max(0, Number(ms) || 0), () => fn(...args)));
  g.clearTimeout = (handle: unknown) => {
    if (handle instanceof VirtualTimeout) handle.timer.cancelled = true;
    else realClear.call(globalThis, handle);
  };
  return () => {
    g.setTimeout = realSet;
    g.clearTimeout = realClear;
  };
}

/** The random streams of the simulated isolate whose request (or its background work) is running. */
export interface IsolateRandomness {
  /** crypto.getRandomValues: ticket nonces, key ids, session ids. */
  bytes: Random;
  /** Math.random: the ring reader's refresh and backoff jitter. */
  math: Random;
}

/** Set around each request an isolate serves (fleet/fleet.ts); what it starts in the background inherits it. */
export const isolateRandomness = new AsyncLocalStorage<IsolateRandomness>();

/**
 * crypto.getRandomValues and Math.random from the scenario's seed, from the
 * running isolate's own streams (isolateRandomness), or from `fallback`
 * outside any isolate's request (the Durable Objects' own code): ticket
 * nonces, key ids and session ids decide which replay shard a ticket goes
 * to, and so where each shard is placed and what every later call costs;
 * the ring reader's jitter decides when each isolate reads the tier. Seeded
 * per isolate, a run is repeated exactly by the same seed whatever real order
 * concurrent requests run in (up to calls that reach one object at the same
 * virtual instant). Key material made by crypto.subtle stays truly random.
 * Returns the undo.
 */
export function seedRandomness(fallback: Random): () => void {
  const proto = Object.getPrototypeOf(crypto) as { getRandomValues: Crypto["getRandomValues"] };
  const original = proto.getRandomValues;
  const fallbackMath = fallback.fork("Math.random");
  proto.getRandomValues = function <T extends ArrayBufferView | null>(array: T): T {
    if (array) {
      const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
      bytes.set((isolateRandomness.getStore()?.bytes ?? fallback).bytes(bytes.length));
    }
    return array;
  } as Crypto["getRandomValues"];
  const originalMath = Math.random;
  Math.random = () => (isolateRandomness.getStore()?.math ?? fallbackMath).next();
  return () => {
    proto.getRandomValues = original;
    Math.random = originalMath;
  };
}
