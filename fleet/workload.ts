/**
 * What terminators ask of the fleet, and how the simulator judges the
 * answers: tickets sealed anywhere are opened anywhere (resumption across
 * locations is the service's promise), single-use tickets once, made-up
 * tickets and replays as an attacker would send them. Every request goes
 * through the HTTP API.
 *
 * A ticket is valid when the service issued it, it has not expired, and its
 * key was not revoked before it was issued; the opens of valid tickets that
 * fail are the report's "failed valid opens". A ticket sealed under a key
 * the operator had already revoked (an isolate with a stale copy of the
 * ring) was issued as valid, so its failed opens count too, and are also
 * counted apart.
 */
import reference from "../bench/reference.json";
import { encodeBase64url } from "../src/core/index.js";
import type { Fleet, Isolate } from "./fleet.js";
import type { Random } from "./random.js";

/** The session every ticket and stored session carries: the benchmark's reference TLS 1.2 session. */
export const TLS12_SESSION = reference;

/**
 * Single-use tickets live this long: long enough to be opened, short enough
 * that the replay guard's entries expire (and its sweep alarms run) within a
 * scenario.
 */
export const SINGLE_USE_LIFETIME_S = 120;

export interface IssuedTicket {
  ticket: string;
  keyId: number;
  /** Virtual ms: the seal request's start and answer. */
  sealStarted: number;
  sealAnswered: number;
  /** Unix seconds. */
  expiresAt: number;
  singleUse: boolean;
  /** The region of the isolate that sealed it: its replay-guard shard's. */
  region: string;
  /** Sealed under a key revoked before the seal began (a stale copy of the ring). */
  staleSeal: boolean;
  opened: boolean;
}

/** How an open must be judged, given what the operator revoked and when. */
export type Judgement = "valid" | "revoked" | "unjudged";

/** What the operator did to the ring, for judging answers: keys revoked and when (virtual ms). */
export class Revocations {
  private readonly revoked = new Map<number, { requested: number; answered: number }>();

  add(keyIds: Iterable<number>, requested: number, answered: number): void {
    for (const id of keyIds) if (!this.revoked.has(id)) this.revoked.set(id, { requested, answered });
  }

  /** Seconds from the answer of the revoke of `keyId` to virtual instant `t` (undefined: not revoked). */
  secondsAfter(keyId: number, t: number): number | undefined {
    const r = this.revoked.get(keyId);
    return r === undefined ? undefined : (t - r.answered) / 1000;
  }

  /** Sealed after the revoke had answered, under a revoked key: the service should not have issued it. */
  sealedAfter(keyId: number, sealStarted: number): boolean {
    const r = this.revoked.get(keyId);
    return r !== undefined && sealStarted >= r.answered;
  }

  /**
   * An open that began before the revoke was asked for judges a valid ticket;
   * one that began while it was in flight, or of a ticket sealed while it was,
   * is not judged. After it: a ticket issued before the revoke must be
   * refused (that is the revoke), one issued after it must open.
   */
  judge(t: IssuedTicket, openStarted: number): Judgement {
    const r = this.revoked.get(t.keyId);
    if (!r || openStarted < r.requested) return "valid";
    if (openStarted < r.answered) return "unjudged";
    if (t.sealAnswered <= r.requested) return "revoked";
    return t.sealStarted >= r.answered ? "valid" : "unjudged";
  }
}

export type Op = "seal" | "seal_single" | "open" | "open_single";

export const STEADY_MIX: Record<Op, number> = { seal: 0.3, open: 0.5, seal_single: 0.1, open_single: 0.1 };

const POOL_LIMIT = 4000;

/** Per location, the latest instant (seconds after the revoke answered) something happened that a revoke ends. */
export interface RevokeLag {
  /** A seal under the revoked key (an isolate's copy did not show the revoke yet). */
  sealed_under_revoked_key: Record<string, number>;
  /** An open of a ticket issued before the revoke that succeeded. */
  revoked_ticket_opened: Record<string, number>;
}

export class Workload {
  readonly revocations = new Revocations();
  readonly revokeLag: RevokeLag = { sealed_under_revoked_key: {}, revoked_ticket_opened: {} };
  /** Reusable tickets, newest last. */
  private readonly reusable: IssuedTicket[] = [];
  /** Single-use tickets not yet opened. */
  private readonly unopened: IssuedTicket[] = [];
  private readonly known = new Set<number>();

  constructor(readonly fleet: Fleet) {}

  private lag(what: keyof RevokeLag, isolate: Isolate, keyId: number, t: number): void {
    if (!this.fleet.meter.recording) return;
    const seconds = this.revocations.secondsAfter(keyId, t) ?? 0;
    const byLocation = this.revokeLag[what];
    byLocation[isolate.location.name] = Math.max(byLocation[isolate.location.name] ?? 0, Math.round(seconds * 10) / 10);
  }

  /** Every key id a ticket was sealed under so far. */
  keyIds(): number[] {
    return [...this.known];
  }

  async seal(isolate: Isolate, singleUse = false): Promise<IssuedTicket | undefined> {
    const { fleet } = this;
    const sealStarted = fleet.clock.now;
    const body = singleUse ? { session: TLS12_SESSION, single_use: true, lifetime: SINGLE_USE_LIFETIME_S } : { session: TLS12_SESSION };
    const answer = await fleet.request(isolate, "POST", "/v1/tickets", { body, op: singleUse ? "seal_single" : "seal", handshake: true });
    if (answer.status !== 201) {
      fleet.meter.count(`seal_failed.${answer.code ?? answer.status}`);
      return undefined;
    }
    const t: IssuedTicket = {
      ticket: answer.body.ticket,
      keyId: answer.body.key_id,
      sealStarted,
      sealAnswered: fleet.clock.now,
      expiresAt: answer.body.expires_at,
      singleUse,
      region: isolate.location.region,
      staleSeal: this.revocations.sealedAfter(answer.body.key_id, sealStarted),
      opened: false,
    };
    if (t.staleSeal) {
      fleet.meter.count("sealed_under_revoked_key");
      this.lag("sealed_under_revoked_key", isolate, t.keyId, sealStarted);
    }
    this.known.add(t.keyId);
    const pool = singleUse ? this.unopened : this.reusable;
    pool.push(t);
    if (pool.length > POOL_LIMIT) pool.splice(0, pool.length - POOL_LIMIT);
    return t;
  }

  /** Opens a ticket and judges the answer against what the service promised. */
  async open(isolate: Isolate, t: IssuedTicket, op: string = t.singleUse ? "open_single" : "open"): Promise<number> {
    const { fleet } = this;
    const firstUse = !t.opened;
    t.opened = true;
    const started = fleet.clock.now;
    const answer = await fleet.request(isolate, "POST", "/v1/tickets/open", { body: { ticket: t.ticket }, op, handshake: true, issuedIn: t.region });
    const ok = answer.status === 200;
    const judgement = this.revocations.judge(t, started);
    if (judgement === "unjudged" || Math.floor(started / 1000) >= t.expiresAt) {
      fleet.meter.count("unjudged_opens");
    } else if (judgement === "revoked") {
      fleet.meter.count(ok ? "revoked_ticket_opened" : "expected_refusals");
      if (ok) this.lag("revoked_ticket_opened", isolate, t.keyId, started);
    } else if (t.singleUse && !firstUse) {
      fleet.meter.count(ok ? "replay_accepted" : "expected_refusals");
    } else if (ok) {
      fleet.meter.count("valid_opens");
    } else {
      fleet.meter.count("failed_valid_opens");
      fleet.meter.count(`failed_valid_opens.${answer.code ?? answer.status}`);
      if (t.staleSeal) fleet.meter.count("failed_valid_opens.sealed_under_revoked_key");
    }
    return answer.status;
  }

  /** A reusable ticket from anywhere in the fleet, not expired. */
  pickReusable(rng: Random): IssuedTicket | undefined {
    const now = this.fleet.clock.seconds;
    for (let tries = 0; tries < 8 && this.reusable.length > 0; tries++) {
      const t = rng.pick(this.reusable);
      if (now < t.expiresAt) return t;
    }
    return undefined;
  }

  /** A single-use ticket nobody has opened yet, taken out of the pool. */
  takeUnopened(rng: Random): IssuedTicket | undefined {
    while (this.unopened.length > 0) {
      const i = rng.int(this.unopened.length);
      const t = this.unopened[i]!;
      this.unopened[i] = this.unopened[this.unopened.length - 1]!;
      this.unopened.pop();
      // Not opened elsewhere already (a scenario may open one itself), not expired.
      if (!t.opened && this.fleet.clock.seconds < t.expiresAt) return t;
    }
    return undefined;
  }

  /** One request of the mix: an open when there is a ticket to open, else a seal. Choices come from the caller's stream. */
  async one(isolate: Isolate, op: Op, rng: Random): Promise<void> {
    if (op === "open") {
      const t = this.pickReusable(rng);
      if (t) return void (await this.open(isolate, t));
    } else if (op === "open_single") {
      const t = this.takeUnopened(rng);
      if (t) return void (await this.open(isolate, t));
    }
    await this.seal(isolate, op === "seal_single" || op === "open_single");
  }

  /** A ticket with a made-up key id, as any TLS client can send (terminators forward it, no token needed). */
  async openMadeUp(isolate: Isolate, rng: Random): Promise<number> {
    const bytes = new Uint8Array(1 + 3 + 1 + 12 + 48);
    bytes.set(rng.bytes(bytes.length));
    bytes[0] = 1; // format v1
    bytes[4] = 0; // no lookup id
    const answer = await this.fleet.request(isolate, "POST", "/v1/tickets/open", { body: { ticket: encodeBase64url(bytes) }, op: "open_made_up", handshake: true });
    if (answer.status === 200) this.fleet.meter.count("made_up_ticket_opened");
    return answer.status;
  }

  /** Opens a single-use ticket that was opened before: must be refused. */
  async replay(isolate: Isolate, t: IssuedTicket): Promise<number> {
    return this.open(isolate, t, "replay");
  }
}

/** Picks from a mix by weight. */
export function pickOp<T extends string>(mix: Record<T, number>, rng: Random): T {
  const entries = Object.entries(mix) as [T, number][];
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let x = rng.next() * total;
  for (const [op, w] of entries) {
    x -= w;
    if (x < 0) return op;
  }
  return entries[entries.length - 1]![0];
}

/**
 * A script for Fleet.play: each isolate receives requests as a Poisson
 * process of `ratePerIsolate` per second until the play ends, each one
 * `send(isolate)`; in-flight requests are awaited at the end.
 */
export interface ArrivalOptions {
  isolates?: readonly Isolate[];
  /** Names the random stream (two arrival processes of one play must differ). */
  label?: string;
  /** Each isolate's first request comes at a uniform random time within this many ms (isolates that did not start together). */
  staggerMs?: number;
}

export function arrivals(fleet: Fleet, ratePerIsolate: number, send: (isolate: Isolate, rng: Random) => Promise<unknown>, options: ArrivalOptions = {}) {
  const { isolates = fleet.isolates, label = "arrivals", staggerMs = 0 } = options;
  return async (end: number): Promise<void> => {
    const inflight = new Set<Promise<unknown>>();
    await Promise.all(
      isolates.map(async (isolate) => {
        const rng = fleet.random.fork(`${label}:${isolate.id}:${fleet.elapsed}`);
        if (staggerMs > 0) await fleet.clock.sleep(rng.uniform(0, staggerMs));
        for (;;) {
          const gap = rng.exponential(1000 / ratePerIsolate);
          if (fleet.clock.now + gap >= end) break;
          await fleet.clock.sleep(gap);
          const p = send(isolate, rng).catch((e: unknown) => fleet.meter.count(`workload_error.${e instanceof Error ? e.name : "unknown"}`));
          inflight.add(p);
          void p.finally(() => inflight.delete(p));
        }
      }),
    );
    await Promise.all(inflight);
  };
}

/** The steady mix at `ratePerIsolate` requests per second per isolate. */
export function steadyTraffic(workload: Workload, ratePerIsolate: number, options: Omit<ArrivalOptions, "label"> = {}) {
  return arrivals(workload.fleet, ratePerIsolate, (isolate, rng) => workload.one(isolate, pickOp(STEADY_MIX, rng), rng), { ...options, label: "steady" });
}

/** Isolates come and go: each is replaced by a cold one after an exponential lifetime of this mean. */
export function churn(fleet: Fleet, meanLifetimeS: number) {
  return async (end: number): Promise<void> => {
    await Promise.all(
      fleet.isolates.map(async (isolate) => {
        const rng = fleet.random.fork(`churn:${isolate.id}:${fleet.elapsed}`);
        for (;;) {
          const life = rng.exponential(meanLifetimeS * 1000);
          if (fleet.clock.now + life >= end) break;
          await fleet.clock.sleep(life);
          fleet.start(isolate);
          fleet.meter.count("isolate_restarts");
        }
      }),
    );
  };
}
