/**
 * KeyVaultObject: where ring key material lives, wrapped under the
 * MASTER_KEY-derived key-encryption key, and nowhere else that keeps a
 * history. The ring's own object is SQLite-backed, and SQLite-backed
 * Durable Objects keep 30 days of point-in-time recovery
 * (ctx.storage.getBookmarkForTime): material written there could be brought
 * back, and unwrapped by whoever holds MASTER_KEY, for a month after its
 * window ended. This object uses the key-value storage backend (a
 * `new_classes` migration), which has no point-in-time recovery: a key
 * deleted here is gone (docs/security.md, "Forward secrecy").
 *
 * One instance, called only by the ring object: when it creates keys, when
 * it destroys them, and when it republishes the ring after a restart.
 */
import { DurableObject } from "cloudflare:workers";

const PREFIX = "key:";

export class KeyVaultObject extends DurableObject {
  /** Stores wrapped material for new key ids (each written once). */
  async store(entries: { id: number; wrapped: Uint8Array<ArrayBuffer> }[]): Promise<void> {
    if (entries.length === 0) return;
    await this.ctx.storage.put(Object.fromEntries(entries.map((e) => [PREFIX + e.id, e.wrapped])));
  }

  /** The wrapped material of these ids; ids it does not hold are absent. */
  async load(ids: number[]): Promise<Map<number, Uint8Array<ArrayBuffer>>> {
    const out = new Map<number, Uint8Array<ArrayBuffer>>();
    for (let i = 0; i < ids.length; i += 128) {
      const got = await this.ctx.storage.get<Uint8Array<ArrayBuffer>>(ids.slice(i, i + 128).map((id) => PREFIX + id));
      for (const [key, wrapped] of got) out.set(Number(key.slice(PREFIX.length)), new Uint8Array(wrapped));
    }
    return out;
  }

  /** Destroys material: the ring calls this when a key's window ends or a revoke ends it early. */
  async destroy(ids: number[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 128) await this.ctx.storage.delete(ids.slice(i, i + 128).map((id) => PREFIX + id));
  }

  /** Every id it holds (the ring destroys those it no longer lists, after a crash between the two). */
  async ids(): Promise<number[]> {
    return [...(await this.ctx.storage.list({ prefix: PREFIX })).keys()].map((key) => Number(key.slice(PREFIX.length)));
  }
}
