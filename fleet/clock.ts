/**
 * Virtual time: the fleet's one clock, in milliseconds since the epoch.
 *
 * The real worker code runs for real (its crypto, its SQLite, its Durable
 * Object calls), but every wait the simulator models (a round trip to a
 * Durable Object, a KV read, a request's arrival, a timer the service sets)
 * is a virtual timer. Virtual time moves to the next timer only when the
 * system is idle: no tracked real operation in flight (a Durable Object call,
 * a WebCrypto operation) and nothing else happened for a few turns of the
 * real event loop. So real work takes no virtual time, a 200 ms round trip
 * takes exactly its modelled 200 ms, and an hour of rotations runs in
 * seconds. The loop is a discrete-event simulation whose events are the
 * real code's own awaits.
 */

// The real timer, captured before any virtual timer is installed (fleet/runtime.ts).
const realSetTimeout = globalThis.setTimeout;

/** One turn of the real event loop: lets pending I/O and crypto callbacks run. */
function realTurn(): Promise<void> {
  return new Promise((resolve) => realSetTimeout.call(globalThis, resolve, 0));
}

export interface Timer {
  readonly at: number;
  readonly seq: number;
  cancelled: boolean;
  fire(): void;
}

/** A binary min-heap of timers, ordered by time, then by creation. */
class TimerHeap {
  private readonly items: Timer[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Timer | undefined {
    return this.items[0];
  }

  push(t: Timer): void {
    const a = this.items;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): Timer | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l]!, a[m]!)) m = l;
        if (r < a.length && before(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

const before = (x: Timer, y: Timer) => x.at < y.at || (x.at === y.at && x.seq < y.seq);

export interface ClockOptions {
  /**
   * Real event-loop turns with nothing happening before the system counts as
   * idle. Crypto and body reads are tracked (fleet/runtime.ts); the turns are
   * a margin for whatever else resolves a turn late. The fleet test checks
   * that a larger value changes nothing.
   */
  quietTurns?: number;
  /** Real milliseconds a tracked operation may take before the run fails (a hung call). */
  stallLimitMs?: number;
}

export class VirtualClock {
  /** Virtual milliseconds since the epoch. */
  now: number;
  private readonly timers = new TimerHeap();
  private readonly inflight = new Map<number, string>();
  /** Real work done by a Durable Object instance (its calls to other objects, its storage operations), by owner. */
  private readonly owned = new Map<string, Set<number>>();
  private readonly ownerOf = new Map<number, string>();
  private activity = 0;
  private seq = 0;
  private readonly quietTurns: number;
  private readonly stallLimitMs: number;
  /** What running the simulation cost: instants virtual time stopped at, real event-loop turns waited. */
  readonly stats = { advances: 0, turns: 0, timers: 0 };

  constructor(startMs: number, options: ClockOptions = {}) {
    this.now = startMs;
    this.quietTurns = options.quietTurns ?? 3;
    this.stallLimitMs = options.stallLimitMs ?? 60_000;
  }

  /** Unix seconds, as the service counts. */
  get seconds(): number {
    return Math.floor(this.now / 1000);
  }

  /** Runs `fire` at virtual time `at` (or at once, in the next advance, if `at` has passed). */
  schedule(at: number, fire: () => void): Timer {
    const timer: Timer = { at: Math.max(at, this.now), seq: this.seq++, cancelled: false, fire };
    this.timers.push(timer);
    this.activity++;
    return timer;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.schedule(this.now + Math.max(0, ms), resolve));
  }

  sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => this.schedule(at, resolve));
  }

  /** Real work the idle check must wait for: a Durable Object call, a crypto operation; `owner`: the object doing it, if one is. */
  track<T>(work: PromiseLike<T>, label = "operation", owner?: string): Promise<T> {
    const id = this.begin(label, owner);
    return Promise.resolve(work).finally(() => this.end(id));
  }

  private begin(label: string, owner?: string): number {
    const id = this.seq++;
    this.inflight.set(id, label);
    this.own(id, owner);
    this.activity++;
    return id;
  }

  private end(id: number): void {
    this.disown(id);
    if (this.inflight.delete(id)) this.activity++;
  }

  private own(id: number, owner: string | undefined): void {
    if (owner === undefined) return;
    let set = this.owned.get(owner);
    if (!set) this.owned.set(owner, (set = new Set()));
    set.add(id);
    this.ownerOf.set(id, owner);
  }

  private disown(id: number): void {
    const owner = this.ownerOf.get(id);
    if (owner === undefined) return;
    this.ownerOf.delete(id);
    this.owned.get(owner)?.delete(id);
  }

  /**
   * A Durable Object instance was reset (a deploy restarts every object):
   * what it was doing may never settle, so the calls it was making and its
   * storage operations stop counting as work in flight.
   */
  abandon(owner: string): void {
    const set = this.owned.get(owner);
    if (!set) return;
    this.owned.delete(owner);
    for (const id of set) this.end(id);
  }

  /** Something happened that the idle check must see (a request started or ended). */
  touch(): void {
    this.activity++;
  }

  /**
   * Runs the simulation until virtual time `end`: fires every timer due by
   * then, in order, letting the real code run between them. Timers due later
   * stay for the next call.
   */
  async runUntil(end: number): Promise<void> {
    for (;;) {
      await this.settle();
      const next = this.timers.peek();
      if (!next || next.at > end) break;
      this.now = Math.max(this.now, next.at);
      this.stats.advances++;
      // Every timer due at this instant fires before the system settles again.
      while (this.timers.peek() && this.timers.peek()!.at <= this.now) {
        const t = this.timers.pop()!;
        if (!t.cancelled) {
          this.activity++;
          this.stats.timers++;
          t.fire();
        }
      }
    }
    this.now = Math.max(this.now, end);
  }

  /** Waits until no tracked work is in flight and nothing has happened for quietTurns real turns. */
  private async settle(): Promise<void> {
    let quiet = 0;
    const started = Date.now();
    while (quiet < this.quietTurns) {
      const seen = this.activity;
      await realTurn();
      this.stats.turns++;
      if (this.inflight.size === 0 && this.activity === seen) quiet++;
      else quiet = 0;
      if (this.inflight.size > 0 && Date.now() - started > this.stallLimitMs) {
        throw new Error(`fleet clock: real work stalled for ${this.stallLimitMs} ms: ${[...new Set(this.inflight.values())].join(", ")}`);
      }
    }
  }
}
