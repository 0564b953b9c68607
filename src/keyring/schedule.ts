/**
 * The key ring as pure functions of time (unix seconds). A key's life:
 *
 *   published_at ── pending ──▶ activates_at ── active ──▶ deactivates_at ── retiring ──▶ expires_at: destroyed
 *
 * Pending and retiring keys only decrypt; exactly one key encrypts at a time
 * because the [activates_at, deactivates_at) windows never overlap. A key
 * keeps decrypting for the longest ticket lifetime after it stops encrypting,
 * so every ticket it sealed can be opened until that ticket itself expires.
 */
import { MAX_KEY_ID } from "../core/index.js";

export interface KeyTimes {
  id: number;
  published_at: number;
  activates_at: number;
  deactivates_at: number;
  expires_at: number;
}

export type KeyState = "pending" | "active" | "retiring" | "destroyed";

export interface ScheduleSettings {
  rotation_period: number;
  prepublish_lead: number;
  /** Longest ticket lifetime of any context. */
  max_ticket_lifetime: number;
}

export function keyState(k: KeyTimes, now: number): KeyState {
  if (now < k.activates_at) return "pending";
  if (now < k.deactivates_at) return "active";
  if (now < k.expires_at) return "retiring";
  return "destroyed";
}

/** The one key that may encrypt at `now`, if any. */
export function activeKey<K extends KeyTimes>(keys: readonly K[], now: number): K | undefined {
  return keys.find((k) => k.activates_at <= now && now < k.deactivates_at);
}

/** The earliest future time at which some key changes state: when the ring must be looked at again. */
export function nextEvent(keys: readonly KeyTimes[], now: number): number | undefined {
  let next: number | undefined;
  for (const k of keys) {
    for (const t of [k.activates_at, k.deactivates_at, k.expires_at]) {
      if (t > now && (next === undefined || t < next)) next = t;
    }
  }
  return next;
}

/** What maintenance must do to bring the ring to a valid state at `now`. */
export interface RingPlan {
  /** Keys whose window has ended: destroy their material. */
  destroy: number[];
  /** New keys to generate and publish, with their times (ids chosen by the caller). */
  create: Omit<KeyTimes, "id">[];
  /** Existing keys whose times change (forced rotation). */
  update: KeyTimes[];
}

/**
 * Maintenance: destroy expired keys, make sure a key is active now, and that
 * its successor is already published. On a cold start (or after an outage
 * longer than a key's window) the new active key cannot have been published
 * in advance; isolates meeting its id refresh their copy of the ring once.
 */
export function planMaintenance(keys: readonly KeyTimes[], now: number, s: ScheduleSettings): RingPlan {
  const plan: RingPlan = { destroy: [], create: [], update: [] };
  const live = keys.filter((k) => {
    if (now >= k.expires_at) {
      plan.destroy.push(k.id);
      return false;
    }
    return true;
  });
  let current: Omit<KeyTimes, "id"> | undefined = activeKey(live, now);
  if (!current) {
    // No key encrypts now. A pending key whose time has not come cannot be
    // pulled forward silently (it may not be known everywhere yet): a new key
    // takes over until the pending one's activation, or for a whole period.
    const nextPending = live.filter((k) => k.activates_at > now).sort((a, b) => a.activates_at - b.activates_at)[0];
    const end = nextPending ? nextPending.activates_at : now + s.rotation_period;
    current = timesFor(now, now, end, s);
    plan.create.push(current);
  }
  const hasSuccessor = live.some((k) => k.activates_at >= current.deactivates_at);
  if (!hasSuccessor) {
    plan.create.push(timesFor(now, current.deactivates_at, current.deactivates_at + s.rotation_period, s));
  }
  return plan;
}

function timesFor(publishedAt: number, activatesAt: number, deactivatesAt: number, s: ScheduleSettings): Omit<KeyTimes, "id"> {
  return {
    published_at: publishedAt,
    activates_at: activatesAt,
    deactivates_at: deactivatesAt,
    expires_at: deactivatesAt + s.max_ticket_lifetime,
  };
}

export interface RotationResult {
  plan: RingPlan;
  /** When the successor starts encrypting (now, or once it has been published long enough). */
  activates_at: number;
}

/**
 * A forced rotation. The successor takes over as soon as every location can
 * know it: now if it was published at least prepublish_lead ago, else at
 * published_at + prepublish_lead. With `revoke`, the successor takes over at
 * once and every older key is destroyed now (a suspected compromise: their
 * tickets fall back to the store or to full handshakes).
 *
 * Call on a maintained ring (planMaintenance applied first).
 */
export function planRotation(keys: readonly KeyTimes[], now: number, s: ScheduleSettings, revoke: boolean): RotationResult {
  const current = activeKey(keys, now);
  const successor = current && keys.filter((k) => k.activates_at >= current.deactivates_at).sort((a, b) => a.activates_at - b.activates_at)[0];
  if (!current || !successor) throw new Error("planRotation needs a maintained ring");
  const plan: RingPlan = { destroy: [], create: [], update: [] };
  const at = revoke ? now : Math.max(now, successor.published_at + s.prepublish_lead);
  if (at >= current.deactivates_at) return { plan, activates_at: successor.activates_at }; // already due
  const promoted: KeyTimes = { ...successor, activates_at: at, deactivates_at: at + s.rotation_period, expires_at: at + s.rotation_period + s.max_ticket_lifetime };
  plan.update.push(promoted);
  if (revoke) {
    for (const k of keys) if (k.id !== successor.id) plan.destroy.push(k.id);
  } else {
    // The old key stops encrypting at `at`, but keeps its expiry: a location
    // whose copy of the ring predates this rotation keeps sealing with it
    // until it refreshes (at most cache_ttl), and those tickets must open
    // until their own expiry. Shortening the expiry would break them.
    plan.update.push({ ...current, deactivates_at: at });
  }
  // Keys lined up after the successor are dropped: their windows would
  // overlap the promoted key's. They never encrypted anything.
  for (const k of keys) if (k.activates_at > successor.activates_at) plan.destroy.push(k.id);
  // The promoted key's own successor, published now.
  plan.create.push(timesFor(now, promoted.deactivates_at, promoted.deactivates_at + s.rotation_period, s));
  return { plan, activates_at: at };
}

/** A random 24-bit key id not used by any key in the ring. */
export function newKeyId(taken: ReadonlySet<number>): number {
  for (;;) {
    const b = crypto.getRandomValues(new Uint8Array(3));
    const id = ((b[0]! << 16) | (b[1]! << 8) | b[2]!) & MAX_KEY_ID;
    if (!taken.has(id)) return id;
  }
}
