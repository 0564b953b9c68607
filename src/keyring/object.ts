/**
 * KeyRingObject: the one writer of the fleet's ticket key ring. A Durable
 * Object (SQLite storage) serialises every change, so concurrent rotations
 * can never leave two active keys. It maintains the ring on its alarm (set
 * for the next key event) and whenever it is read past an event; a Cron
 * Trigger wakes it if an alarm was missed.
 *
 * What it keeps where (docs/key-rotation.md, "What is where"):
 * - its SQLite storage: each key's id and times, the revoked ids, the ring's
 *   revision and the KEK's fingerprint; never key material, because SQLite
 *   storage keeps 30 days of point-in-time recovery;
 * - the key vault (./vault.ts, no history): the material, wrapped;
 * - the read tier (./tier.ts): every change of the ring, published to KV,
 *   from which isolates read it. Isolates ask this object only when the
 *   tier holds no ring they can use.
 */
import { DurableObject } from "cloudflare:workers";
import { loadConfig } from "../config.js";
import type { Env } from "../env.js";
import { deriveKek, generateWrappedKey, kekFingerprint } from "./material.js";
import {
  newKeyId,
  nextEvent,
  planMaintenance,
  planRotation,
  type KeyTimes,
  type RingPlan,
  type ScheduleSettings,
} from "./schedule.js";
import { publishRing, type PublishedRing, type RevokedKey, type StoredKey } from "./tier.js";
import type { KeyVaultObject } from "./vault.js";

export interface RotateResult {
  ring: PublishedRing;
  /** When the new key starts (or started) encrypting. */
  activates_at: number;
  revoked: number[];
}

type KeyRow = { id: number; published_at: number; activates_at: number; deactivates_at: number; expires_at: number };

/** A failed publication is retried this many seconds later, by alarm. */
const PUBLISH_RETRY_SECONDS = 5;
/** Asked for the ring (an isolate found the tier of no use), it publishes again at most this often. */
const REPUBLISH_ON_ASK_SECONDS = 10;

export class KeyRingObject extends DurableObject<Env> {
  /** Milliseconds; tests replace it (runInDurableObject) to drive the alarm on a controlled clock. */
  clock: () => number = () => Date.now();
  private kek: Promise<CryptoKey> | undefined;
  private fingerprint: Promise<string> | undefined;
  /** Wrapped material of this ring's keys, as the vault holds it (loaded once per instance). */
  private readonly material = new Map<number, Uint8Array<ArrayBuffer>>();
  private lastPublishAsked = -Infinity;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    sql.exec(`CREATE TABLE IF NOT EXISTS keys (
      id INTEGER PRIMARY KEY,
      wrapped BLOB NOT NULL,
      published_at INTEGER NOT NULL,
      activates_at INTEGER NOT NULL,
      deactivates_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`);
    sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    sql.exec("CREATE TABLE IF NOT EXISTS revoked (id INTEGER PRIMARY KEY, expires_at INTEGER NOT NULL)");
    // The ring's name (its KV key and its vault's): callers reach it by name.
    if (ctx.id.name !== undefined) sql.exec("INSERT OR IGNORE INTO meta (name, value) VALUES ('name', ?)", ctx.id.name);
  }

  private settings(): ScheduleSettings {
    const config = loadConfig(this.env);
    return {
      rotation_period: config.keyRing.rotation_period,
      prepublish_lead: config.keyRing.prepublish_lead,
      max_ticket_lifetime: config.maxTicketLifetime,
    };
  }

  private keyEncryptionKey(): Promise<CryptoKey> {
    this.kek ??= deriveKek(loadConfig(this.env).masterKey);
    return this.kek;
  }

  private meta(name: string): string | undefined {
    return this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE name = ?", name).toArray()[0]?.value;
  }

  private setMeta(name: string, value: string | number): void {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", name, String(value));
  }

  private ringName(): string {
    return this.meta("name") ?? "ring";
  }

  private vault(): DurableObjectStub<KeyVaultObject> {
    return this.env.KEY_VAULT.get(this.env.KEY_VAULT.idFromName(this.ringName()));
  }

  /**
   * The fingerprint of this MASTER_KEY's key-encryption key, and the one the
   * stored keys were wrapped under (undefined for a ring never written).
   */
  private async fingerprints(): Promise<{ current: string; stored: string | undefined }> {
    this.fingerprint ??= kekFingerprint(loadConfig(this.env).masterKey);
    return { current: await this.fingerprint, stored: this.meta("kek") };
  }

  private readKeys(): KeyRow[] {
    return this.ctx.storage.sql
      .exec<KeyRow>("SELECT id, published_at, activates_at, deactivates_at, expires_at FROM keys ORDER BY activates_at")
      .toArray();
  }

  /** Revoked keys whose original window has not ended at `now`. */
  private readRevoked(now: number): RevokedKey[] {
    return this.ctx.storage.sql.exec<RevokedKey>("SELECT id, expires_at FROM revoked WHERE expires_at > ? ORDER BY id", now).toArray();
  }

  /** The ring as readers receive it: times from SQLite, material from the vault. */
  private async published(now: number, settings: ScheduleSettings): Promise<PublishedRing> {
    await this.migrateLegacyMaterial();
    const rows = this.readKeys();
    const missing = rows.map((k) => k.id).filter((id) => !this.material.has(id));
    if (missing.length) for (const [id, wrapped] of await this.vault().load(missing)) this.material.set(id, wrapped);
    const keys: StoredKey[] = [];
    for (const k of rows) {
      const wrapped = this.material.get(k.id);
      // A key whose material is lost cannot be published; maintenance replaces it (lostKeys).
      if (wrapped) keys.push({ ...k, wrapped });
    }
    return { revision: Number(this.meta("revision") ?? 0), kek: (await this.fingerprints()).current, keys, revoked: this.readRevoked(now), settings, now };
  }

  /** The ring as of `now` (unix seconds), maintained first if a key event has passed. */
  async getRing(now: number): Promise<PublishedRing> {
    const settings = this.settings();
    const { current, stored } = await this.fingerprints();
    if (!isEmpty(planMaintenance(this.readKeys(), now, settings)) || current !== stored) return this.maintain(now);
    const ring = await this.published(now, settings);
    if (ring.keys.length < this.readKeys().length) return this.maintain(now);
    // A reader asked: the tier may have lost the ring (or never got it). Heal it, at a bounded rate.
    const nowMs = this.clock();
    if (nowMs - this.lastPublishAsked >= REPUBLISH_ON_ASK_SECONDS * 1000) {
      this.lastPublishAsked = nowMs;
      void this.publish(ring);
    }
    return ring;
  }

  /** Brings the ring up to date at `now`: destroys expired keys, activates and pre-publishes. */
  async maintain(now: number): Promise<PublishedRing> {
    const settings = this.settings();
    let changed = false;
    await this.ctx.blockConcurrencyWhile(async () => {
      changed = await this.renewIfMasterKeyChanged(now);
      changed = (await this.apply(await this.withLostKeys(planMaintenance(this.readKeys(), now, settings)), now)) || changed;
    });
    const ring = await this.published(now, settings);
    if (changed || Number(this.meta("published") ?? -1) < ring.revision) await this.publish(ring);
    return ring;
  }

  /** Rotates now (or as soon as the successor is known fleet-wide); with revoke, destroys every older key at once. */
  async rotate(now: number, revoke: boolean): Promise<RotateResult> {
    const settings = this.settings();
    let activatesAt = now;
    let revoked: number[] = [];
    await this.ctx.blockConcurrencyWhile(async () => {
      await this.renewIfMasterKeyChanged(now);
      await this.apply(await this.withLostKeys(planMaintenance(this.readKeys(), now, settings)), now);
      const keys = this.readKeys();
      const { plan, activates_at } = planRotation(keys, now, settings, revoke);
      // Keys destroyed by a revoke (not just never-used pending ones).
      const destroyed = revoke ? keys.filter((k) => plan.destroy.includes(k.id) && k.activates_at <= now) : [];
      revoked = destroyed.map((k) => k.id);
      await this.apply(plan, now, destroyed);
      activatesAt = activates_at;
    });
    const ring = await this.published(now, settings);
    await this.publish(ring);
    return { ring, activates_at: activatesAt, revoked };
  }

  /**
   * Keys wrapped under another MASTER_KEY (an operator replaced the secret)
   * can never be unwrapped again: destroy them, as a revoke would, and let
   * maintenance start a fresh ring. Runs under blockConcurrencyWhile.
   */
  private async renewIfMasterKeyChanged(now: number): Promise<boolean> {
    const { current, stored } = await this.fingerprints();
    if (current === stored) return false;
    // A ring without a fingerprint yet was written under this very key. The
    // revoked list goes too: every stored session was sealed under the old
    // MASTER_KEY's storage keys, so no fallback can answer any more.
    if (stored !== undefined) {
      await this.apply({ destroy: this.readKeys().map((k) => k.id), create: [], update: [] }, now);
      this.ctx.storage.sql.exec("DELETE FROM revoked");
    }
    this.setMeta("kek", current);
    return true;
  }

  /** Keys whose material is gone from the vault (it was lost) are destroyed with the plan; maintenance then replaces them. */
  private async withLostKeys(plan: RingPlan): Promise<RingPlan> {
    const ids = this.readKeys().map((k) => k.id);
    const missing = ids.filter((id) => !this.material.has(id));
    if (missing.length === 0) return plan;
    await this.migrateLegacyMaterial();
    const found = await this.vault().load(missing);
    for (const [id, wrapped] of found) this.material.set(id, wrapped);
    const lost = missing.filter((id) => !found.has(id));
    if (lost.length === 0) return plan;
    console.error(JSON.stringify({ level: "error", event: "key_material_lost", keys: lost.length }));
    return { ...plan, destroy: [...new Set([...plan.destroy, ...lost])] };
  }

  /**
   * A ring written before the vault existed kept material in SQLite: move it
   * to the vault and blank it here (its history still holds it, until the
   * 30 days of point-in-time recovery have passed).
   */
  private async migrateLegacyMaterial(): Promise<void> {
    const sql = this.ctx.storage.sql;
    const rows = sql.exec<{ id: number; wrapped: ArrayBuffer }>("SELECT id, wrapped FROM keys WHERE length(wrapped) > 0").toArray();
    if (rows.length === 0) return;
    const entries = rows.map((r) => ({ id: r.id, wrapped: new Uint8Array(r.wrapped) }));
    await this.vault().store(entries);
    for (const e of entries) this.material.set(e.id, e.wrapped);
    sql.exec("UPDATE keys SET wrapped = x'' WHERE length(wrapped) > 0");
  }

  override async alarm(): Promise<void> {
    await this.maintain(Math.floor(this.clock() / 1000));
  }

  /**
   * Applies a plan. New material is generated, wrapped and stored in the
   * vault first; then every row changes in one synchronous transaction, so a
   * reset mid-way leaves the ring either before or after, never between (a
   * key in the vault but not in the ring is destroyed by the next
   * maintenance); destroyed keys leave the vault last.
   * `revoked`: keys the plan destroys before their window ends, remembered
   * (id and original expiry only) until that expiry. True if anything changed.
   */
  private async apply(plan: RingPlan, now: number, revoked: readonly KeyTimes[] = []): Promise<boolean> {
    if (!isEmpty(plan)) {
      const kek = await this.keyEncryptionKey();
      // A revoked id is not reused while its tickets may live: they must stay key_unknown (and reach the fallback), not ticket_invalid.
      const taken = new Set([...this.readKeys().map((k) => k.id), ...this.readRevoked(now).map((k) => k.id), ...revoked.map((k) => k.id)]);
      const created: StoredKey[] = [];
      for (const times of plan.create) {
        const id = newKeyId(taken);
        taken.add(id);
        created.push({ id, ...times, wrapped: await generateWrappedKey(kek, id) });
      }
      await this.vault().store(created.map(({ id, wrapped }) => ({ id, wrapped })));
      const sql = this.ctx.storage.sql;
      this.ctx.storage.transactionSync(() => {
        sql.exec("DELETE FROM revoked WHERE expires_at <= ?", now);
        for (const k of revoked) sql.exec("INSERT OR REPLACE INTO revoked (id, expires_at) VALUES (?, ?)", k.id, k.expires_at);
        for (const id of plan.destroy) sql.exec("DELETE FROM keys WHERE id = ?", id);
        for (const k of plan.update) {
          sql.exec(
            "UPDATE keys SET activates_at = ?, deactivates_at = ?, expires_at = ? WHERE id = ?",
            k.activates_at, k.deactivates_at, k.expires_at, k.id,
          );
        }
        for (const k of created) {
          sql.exec(
            "INSERT INTO keys (id, wrapped, published_at, activates_at, deactivates_at, expires_at) VALUES (?, x'', ?, ?, ?, ?)",
            k.id, k.published_at, k.activates_at, k.deactivates_at, k.expires_at,
          );
        }
        this.setMeta("revision", Number(this.meta("revision") ?? 0) + 1);
      });
      for (const k of created) this.material.set(k.id, k.wrapped);
      for (const id of plan.destroy) this.material.delete(id);
      await this.destroyOrphans(plan.destroy);
    }
    await this.scheduleAlarm(now);
    return !isEmpty(plan);
  }

  /** Removes from the vault the destroyed keys, and any it holds that the ring does not list (left by a crash). */
  private async destroyOrphans(destroyed: number[]): Promise<void> {
    const listed = new Set(this.readKeys().map((k) => k.id));
    const orphans = (await this.vault().ids()).filter((id) => !listed.has(id));
    await this.vault().destroy([...new Set([...destroyed, ...orphans])]);
  }

  /** Writes the ring to the read tier; a failure (KV refusing a second write this second, or down) is retried by alarm. */
  private async publish(ring: PublishedRing): Promise<void> {
    try {
      await publishRing(this.env.SESSIONS, this.ringName(), ring);
      this.setMeta("published", ring.revision);
    } catch (e) {
      console.error(JSON.stringify({ level: "error", event: "ring_publish_failed", error: e instanceof Error ? e.message : String(e) }));
      const retry = this.clock() + PUBLISH_RETRY_SECONDS * 1000;
      const current = await this.ctx.storage.getAlarm();
      if (current === null || current > retry) await this.ctx.storage.setAlarm(retry);
    }
  }

  private async scheduleAlarm(now: number): Promise<void> {
    const next = nextEvent(this.readKeys(), now);
    if (next !== undefined) await this.ctx.storage.setAlarm(next * 1000);
  }
}

function isEmpty(plan: RingPlan): boolean {
  return plan.create.length === 0 && plan.destroy.length === 0 && plan.update.length === 0;
}
