/**
 * What the simulator records while a phase is measured: every request an
 * isolate answered, every call a binding wrapper made, each as one small
 * record. fleet/summary.ts turns them into the figures of the report.
 */

/**
 * Who made a call: an isolate of a location, or a Durable Object's own call
 * (isolate -1; location: the object, as fleet/bindings.ts names it, e.g.
 * KEY_RING:ring; region: where it was placed).
 */
export interface Caller {
  isolate: number;
  location: string;
  region: string;
}

/** The isolate number of a Durable Object's own calls. */
export const OBJECT_CALLER = -1;

export interface RequestRecord extends Caller {
  /** The workload's name for it: seal, open, open_single, session_get, ... */
  op: string;
  /** Virtual ms when it started. */
  t: number;
  latency: number;
  status: number;
  code: string | undefined;
  /** Started before its isolate had answered anything: a cold isolate's first requests. */
  cold: boolean;
  /** On the handshake path (a terminator waits for it, about 100 ms). */
  handshake: boolean;
  /** The region the ticket or session it uses was issued in (its replay-guard shards'), where it uses one. */
  issuedIn?: string;
  phase: string;
}

export interface BindingRecord extends Caller {
  /** A Durable Object, KV, or the location's Cache API. */
  kind: "do" | "kv" | "cache";
  /** Durable Object: binding and method (KEY_RING.getRing); KV: get.hot, get.cold, put, delete; cache: match.hit, match.miss, put, delete. */
  op: string;
  /** The object's name (ring, replay:enam:7), the KV key, or the cached URL's path. */
  target: string;
  t: number;
  ok: boolean;
  /** Why it failed: refused (KV 429), down (an injected outage), error. */
  failure?: "refused" | "down" | "error";
  phase: string;
}

export interface Tally {
  /** Named counts the workload keeps (failed valid opens, refused purges...). */
  [name: string]: number;
}

export class Meter {
  readonly requests: RequestRecord[] = [];
  readonly calls: BindingRecord[] = [];
  readonly tally: Tally = {};
  /** The measured phase, or undefined between phases (nothing is recorded). */
  phase: string | undefined;
  /** The measured stretches of virtual time (ms), in order. */
  readonly spans: { phase: string; from: number; to: number }[] = [];

  get recording(): boolean {
    return this.phase !== undefined;
  }

  request(r: Omit<RequestRecord, "phase">): void {
    if (this.phase !== undefined) this.requests.push({ ...r, phase: this.phase });
  }

  call(r: Omit<BindingRecord, "phase">): void {
    if (this.phase !== undefined) this.calls.push({ ...r, phase: this.phase });
  }

  count(name: string, n = 1): void {
    if (this.phase !== undefined) this.tally[name] = (this.tally[name] ?? 0) + n;
  }
}
