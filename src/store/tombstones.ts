/**
 * What this isolate has purged and must not serve again, even from KV: a
 * KV delete takes up to 60 s to reach other locations (and a location's
 * read cache), and one made in the second of the key's last write has to
 * wait for the next second. A tombstone hides the key's KV copy from this
 * isolate until then; a new store under the key replaces it. Bounded: past
 * MAX_TOMBSTONES the oldest go first (a purge already in KV by then, as
 * good as done). Pure: time is a parameter.
 */

/** Seconds KV may still show a deleted value somewhere after the delete: its propagation and read cache. */
export const KV_STALE_SECONDS = 60;
const MAX_TOMBSTONES = 16_384;

export interface Tombstone {
  /** Unix second until which KV copies of the key are ignored here. */
  hideUntil: number;
  /** Unix second by which the KV delete has been made (or handed to the replay guard's alarm, due by then). */
  settledAt: number;
}

export class Tombstones {
  private readonly stones = new Map<string, Tombstone>();

  /** The key's live tombstone at `now`, if any. */
  get(key: string, now: number): Tombstone | undefined {
    const t = this.stones.get(key);
    if (t && now >= t.hideUntil) {
      this.stones.delete(key);
      return undefined;
    }
    return t;
  }

  /** A purge of `key` whose KV delete lands by `settledAt`. */
  set(key: string, settledAt: number): void {
    this.stones.delete(key);
    if (this.stones.size >= MAX_TOMBSTONES) this.stones.delete(this.stones.keys().next().value!);
    this.stones.set(key, { hideUntil: settledAt + KV_STALE_SECONDS, settledAt });
  }

  delete(key: string): void {
    this.stones.delete(key);
  }

  get size(): number {
    return this.stones.size;
  }
}
