/**
 * KV takes one write per second per key. This isolate remembers the second
 * of its own last write to each key, so that it never makes a second write
 * to a key within one second: the store skips a write it may skip (an
 * update_time refresh, a repeated delete) and refuses one it may not (429
 * write_rate_limited with Retry-After: 1). Writes from other isolates are
 * KV's to refuse; that failure is a store_unavailable. Pure: time is a parameter.
 */

export type WriteKind = "put" | "delete";

/** Past this many remembered keys, those not written this second are forgotten. */
const PRUNE_AT = 4096;

export class WriteGate {
  private readonly last = new Map<string, { second: number; kind: WriteKind }>();

  /** The kind of this isolate's write to `key` in second `now`, if there was one. */
  writtenAt(key: string, now: number): WriteKind | undefined {
    const w = this.last.get(key);
    return w && w.second === now ? w.kind : undefined;
  }

  mayWrite(key: string, now: number): boolean {
    return this.writtenAt(key, now) === undefined;
  }

  record(key: string, now: number, kind: WriteKind): void {
    if (this.last.size >= PRUNE_AT) {
      for (const [k, w] of this.last) if (w.second !== now) this.last.delete(k);
    }
    this.last.set(key, { second: now, kind });
  }
}
