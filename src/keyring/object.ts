/**
 * KeyRingObject: the one writer of the fleet's ticket key ring. A Durable
 * Object (SQLite storage) serialises every change, so concurrent rotations
 * can never leave two active keys. It maintains the ring on its alarm (set
 * for the next key event) and whenever it is read past an event; a Cron
 * Trigger wakes it if an alarm was missed.
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

export interface StoredKey extends KeyTimes {
  /** The key material wrapped under the MASTER_KEY-derived KEK. */
  wrapped: Uint8Array<ArrayBuffer>;
}

/** A key a revoke destroyed before its window ended, and when that window would have ended. */
export type RevokedKey = {
  id: number;
  expires_at: number;
};

/** What readers receive: the ring's keys (material wrapped) and the settings that shaped it. */
export interface PublishedRing {
  keys: StoredKey[];
  /**
   * Keys revoked while tickets sealed under them may still be alive (until
   * their original expiry): the only key ids whose store: true tickets the
   * store fallback answers for. No material, only ids and times.
   */
  revoked: RevokedKey[];
  settings: ScheduleSettings;
  /** Unix seconds at which the object produced this copy. */
  now: number;
}

export interface RotateResult {
  ring: PublishedRing;
  /** When the new key starts (or started) encrypting. */
  activates_at: number;
  revoked: number[];
}

type KeyRow = { id: number; wrapped: ArrayBuffer; published_at: number; activates_at: number; deactivates_at: number; expires_at: number };

export class KeyRingObject extends DurableObject<Env> {
  /** Milliseconds; tests replace it (runInDurableObject) to drive the alarm on a controlled clock. */
  clock: () => number = () => Date.now();
  private kek: Promise<CryptoKey> | undefined;
  private fingerprint: Promise<string> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS keys (
      id INTEGER PRIMARY KEY,
      wrapped BLOB NOT NULL,
      published_at INTEGER NOT NULL,
      activates_at INTEGER NOT NULL,
      deactivates_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    )`);
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)");
    ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS revoked (id INTEGER PRIMARY KEY, expires_at INTEGER NOT NULL)");
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

  /**
   * The fingerprint of this MASTER_KEY's key-encryption key, and the one the
   * stored keys were wrapped under (undefined for a ring never written).
   */
  private async fingerprints(): Promise<{ current: string; stored: string | undefined }> {
    this.fingerprint ??= kekFingerprint(loadConfig(this.env).masterKey);
    const stored = this.ctx.storage.sql.exec<{ value: string }>("SELECT value FROM meta WHERE name = 'kek'").toArray()[0]?.value;
    return { current: await this.fingerprint, stored };
  }

  private readKeys(): StoredKey[] {
    return this.ctx.storage.sql
      .exec<KeyRow>("SELECT id, wrapped, published_at, activates_at, deactivates_at, expires_at FROM keys ORDER BY activates_at")
      .toArray()
      .map((r) => ({ ...r, wrapped: new Uint8Array(r.wrapped) }));
  }

  /** Revoked keys whose original window has not ended at `now`. */
  private readRevoked(now: number): RevokedKey[] {
    return this.ctx.storage.sql.exec<RevokedKey>("SELECT id, expires_at FROM revoked WHERE expires_at > ? ORDER BY id", now).toArray();
  }

  private published(now: number, settings: ScheduleSettings): PublishedRing {
    return { keys: this.readKeys(), revoked: this.readRevoked(now), settings, now };
  }

  /** The ring as of `now` (unix seconds), maintained first if a key event has passed. */
  async getRing(now: number): Promise<PublishedRing> {
    const settings = this.settings();
    const { current, stored } = await this.fingerprints();
    if (isEmpty(planMaintenance(this.readKeys(), now, settings)) && current === stored) {
      return this.published(now, settings);
    }
    return this.maintain(now);
  }

  /** Brings the ring up to date at `now`: destroys expired keys, activates and pre-publishes. */
  async maintain(now: number): Promise<PublishedRing> {
    const settings = this.settings();
    await this.ctx.blockConcurrencyWhile(async () => {
      await this.renewIfMasterKeyChanged(now);
      await this.apply(planMaintenance(this.readKeys(), now, settings), now);
    });
    return this.published(now, settings);
  }

  /** Rotates now (or as soon as the successor is known fleet-wide); with revoke, destroys every older key at once. */
  async rotate(now: number, revoke: boolean): Promise<RotateResult> {
    const settings = this.settings();
    let activatesAt = now;
    let revoked: number[] = [];
    await this.ctx.blockConcurrencyWhile(async () => {
      await this.renewIfMasterKeyChanged(now);
      await this.apply(planMaintenance(this.readKeys(), now, settings), now);
      const keys = this.readKeys();
      const { plan, activates_at } = planRotation(keys, now, settings, revoke);
      // Keys destroyed by a revoke (not just never-used pending ones).
      const destroyed = revoke ? keys.filter((k) => plan.destroy.includes(k.id) && k.activates_at <= now) : [];
      revoked = destroyed.map((k) => k.id);
      await this.apply(plan, now, destroyed);
      activatesAt = activates_at;
    });
    return { ring: this.published(now, settings), activates_at: activatesAt, revoked };
  }

  /**
   * Keys wrapped under another MASTER_KEY (an operator replaced the secret)
   * can never be unwrapped again: destroy them, as a revoke would, and let
   * maintenance start a fresh ring. Runs under blockConcurrencyWhile.
   */
  private async renewIfMasterKeyChanged(now: number): Promise<void> {
    const { current, stored } = await this.fingerprints();
    if (current === stored) return;
    // A ring without a fingerprint yet was written under this very key. The
    // revoked list goes too: every stored session was sealed under the old
    // MASTER_KEY's storage keys, so no fallback can answer any more.
    if (stored !== undefined) {
      await this.apply({ destroy: this.readKeys().map((k) => k.id), create: [], update: [] }, now);
      this.ctx.storage.sql.exec("DELETE FROM revoked");
    }
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO meta (name, value) VALUES ('kek', ?)", current);
  }

  override async alarm(): Promise<void> {
    await this.maintain(Math.floor(this.clock() / 1000));
  }

  /**
   * Applies a plan atomically. New material is generated and wrapped first
   * (async crypto), then every row changes in one synchronous transaction, so
   * a reset mid-way leaves the ring either before or after, never between.
   * `revoked`: keys the plan destroys before their window ends, remembered
   * (id and original expiry only) until that expiry.
   */
  private async apply(plan: RingPlan, now: number, revoked: readonly KeyTimes[] = []): Promise<void> {
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
      const sql = this.ctx.storage.sql;
      this.ctx.storage.transactionSync(() => {
        sql.exec("DELETE FROM revoked WHERE expires_at <= ?", now);
        for (const k of revoked) sql.exec("INSERT OR REPLACE INTO revoked (id, expires_at) VALUES (?, ?)", k.id, k.expires_at);
        for (const id of plan.destroy) {
          // Overwrite before deleting, so the wrapped bytes do not linger in a free page.
          sql.exec("UPDATE keys SET wrapped = zeroblob(length(wrapped)) WHERE id = ?", id);
          sql.exec("DELETE FROM keys WHERE id = ?", id);
        }
        for (const k of plan.update) {
          sql.exec(
            "UPDATE keys SET activates_at = ?, deactivates_at = ?, expires_at = ? WHERE id = ?",
            k.activates_at, k.deactivates_at, k.expires_at, k.id,
          );
        }
        for (const k of created) {
          sql.exec(
            "INSERT INTO keys (id, wrapped, published_at, activates_at, deactivates_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
            k.id, k.wrapped, k.published_at, k.activates_at, k.deactivates_at, k.expires_at,
          );
        }
      });
    }
    await this.scheduleAlarm(now);
  }

  private async scheduleAlarm(now: number): Promise<void> {
    const next = nextEvent(this.readKeys(), now);
    if (next !== undefined) await this.ctx.storage.setAlarm(next * 1000);
  }
}

function isEmpty(plan: RingPlan): boolean {
  return plan.create.length === 0 && plan.destroy.length === 0 && plan.update.length === 0;
}
