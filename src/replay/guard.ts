/**
 * The replay guard as the routes see it: which shard guards an id, a
 * failure to reach it refusing the use (a full handshake for the caller),
 * never allowing a second one; and the durable hand-off of a KV delete that
 * KV cannot take yet (src/replay/object.ts).
 */
import { ServiceError } from "../http/errors.js";
import type { ReplayGuardObject } from "./object.js";

export type ReplayNamespace = DurableObjectNamespace<ReplayGuardObject>;

/** FNV-1a over the id: cheap and stable; ids are random already, this only spreads them. */
export function shardFor(id: string, shards: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % shards;
}

export class ReplayGuard {
  constructor(
    private readonly namespace: ReplayNamespace,
    private readonly shards: number,
  ) {}

  private shard(id: string): DurableObjectStub<ReplayGuardObject> {
    return this.namespace.get(this.namespace.idFromName(`replay:${shardFor(id, this.shards)}`));
  }

  /** True for the first use fleet-wide; 503 replay_guard_unavailable when the guard cannot answer. */
  async consume(id: string, expiresAt: number, now: number): Promise<boolean> {
    try {
      return await this.shard(id).consume(id, expiresAt, now);
    } catch {
      throw new ServiceError("replay_guard_unavailable", "the single-use record cannot be reached; do a full handshake", {
        headers: { "retry-after": "1" },
      });
    }
  }

  /** Has a shard delete KV key `key` after `afterMs`, durably (its alarm outlives this isolate). Rejects if the shard cannot be reached. */
  purgeLater(key: string, afterMs: number): Promise<void> {
    return this.shard(key).purgeLater(key, afterMs);
  }
}
