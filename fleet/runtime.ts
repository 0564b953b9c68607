/**
 * Puts the runtime's own asynchronous work on the virtual clock while a
 * scenario runs, and takes it off again afterwards:
 *
 * - WebCrypto: every SubtleCrypto call is tracked, so the clock never
 *   advances while a request is between two crypto steps (workerd resolves
 *   them a real event-loop turn later, not as microtasks);
 * - timers (optional): setTimeout/clearTimeout become virtual, so a wait the
 *   service itself makes (a take's 1.1 s retry of a rate-limited delete)
 *   costs its virtual time. Only the simulator Worker installs them: the
 *   test runner inside workerd keeps real timers for its own timeouts.
 */
import type { VirtualClock, Timer } from "./clock.js";

const SUBTLE_METHODS = [
  "encrypt", "decrypt", "sign", "verify", "digest", "generateKey", "deriveKey", "deriveBits", "importKey", "exportKey", "wrapKey", "unwrapKey",
] as const;

/** Tracks every SubtleCrypto operation on `clock`; returns the undo. */
export function trackCrypto(clock: VirtualClock): () => void {
  const proto = Object.getPrototypeOf(crypto.subtle) as Record<string, unknown>;
  const originals = new Map<string, unknown>();
  for (const name of SUBTLE_METHODS) {
    const original = proto[name];
    if (typeof original !== "function") continue;
    originals.set(name, original);
    proto[name] = function (this: SubtleCrypto, ...args: unknown[]) {
      return clock.track((original as (...a: unknown[]) => Promise<unknown>).apply(this, args), `crypto.${name}`);
    };
  }
  return () => {
    for (const [name, original] of originals) proto[name] = original;
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
