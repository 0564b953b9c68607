/**
 * The replay guard as the routes see it: which shard guards an id, a
 * failure to reach it refusing the use (a full handshake for the caller),
 * never allowing a second one; what this isolate already knows to be used;
 * and the durable hand-off of a KV delete that KV cannot take yet
 * (src/replay/object.ts).
 *
 * Shards: REPLAY_GUARD_SHARDS objects per region (./regions.ts), each
 * created with its region's location hint. An id is guarded in the region
 * its ticket or session names (sealed inside it when it was issued), so
 * every use of one ticket, from anywhere, meets the same object, and the
 * usual one, from near where it was issued, a nearby object. Ids with no
 * region (issued before regions, or JWT ids) use the region-less shards.
 */
import { ServiceError } from "../errors.js";
import type { ReplayGuardObject } from "./object.js";
import type { Region } from "./regions.js";

export type ReplayNamespace = DurableObjectNamespace<ReplayGuardObject>;

/** Ids this isolate knows to be used, at most (the oldest go first). */
const USED_IDS_MAX = 16_384;

/** FNV-1a over the id: cheap and stable; ids are random already, this only spreads them. */
export function shardFor(id: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

/** The name of the object that guards `id`: per region, or region-less. */
export function shardName(id: string, shards: number, region: Region | undefined): string {
  return region === undefined ? `replay:${shardFor(id, shards)}` : `replay:${region}:${shardFor(id, shards)}`;
}

export class ReplayGuard {
  /** Ids this isolate has seen used (consumed here, or refused by a shard), until the thing they guard expires. */
  private readonly used = new Map<string, number>();
  /** Uses refused from this isolate's memory, without asking a shard (GET /metrics). */
  refusedFromMemory = 0;

  constructor(
    private readonly namespace: ReplayNamespace,
    private readonly shards: number,
  ) {}

  private shard(id: string, region: Region | undefined): DurableObjectStub<ReplayGuardObject> {
    const objectId = this.namespace.idFromName(shardName(id, this.shards, region));
    return region === undefined ? this.namespace.get(objectId) : this.namespace.get(objectId, { locationHint: region });
  }

  /**
   * True for the first use fleet-wide; 503 replay_guard_unavailable when the
   * guard cannot answer. An id this isolate has seen used is refused at once:
   * a flood of replays of one ticket costs its shard one call per isolate.
   */
  async consume(id: string, expiresAt: number, now: number, region?: Region): Promise<boolean> {
    const knownUntil = this.used.get(id);
    if (knownUntil !== undefined) {
      if (now < knownUntil) {
        this.refusedFromMemory++;
        return false;
      }
      this.used.delete(id);
    }
    let first: boolean;
    try {
      first = await this.shard(id, region).consume(id, expiresAt, now);
    } catch {
      throw new ServiceError("replay_guard_unavailable", "the single-use record cannot be reached; do a full handshake", {
        headers: { "retry-after": "1" },
      });
    }
    // Used from now on, whoever used it.
    if (this.used.size >= USED_IDS_MAX) this.used.delete(this.used.keys().next().value!);
    this.used.set(id, expiresAt);
    return first;
  }

  /** Has a shard of `region` delete KV key `key` after `afterMs`, durably (its alarm outlives this isolate). Rejects if the shard cannot be reached. */
  purgeLater(key: string, afterMs: number, region?: Region): Promise<void> {
    return this.shard(key, region).purgeLater(key, afterMs);
  }
}
