/**
 * ReplayGuardObject: the fleet's strongly consistent memory of what has been
 * used once. Workers KV is eventually consistent and cannot refuse a second
 * use; a Durable Object serialises every call, so of any number of racing
 * `consume` calls for one id exactly one returns true.
 *
 * The guard is sharded by id (no single global object, see shardFor); each
 * entry lives only until the thing it guards would have expired anyway.
 *
 * It also holds purges KV could not take yet: a session removed (DELETE, or
 * taken) in the second it was written cannot be deleted from KV before that
 * second has passed (one write a second per key). An isolate's own timer
 * would die with the isolate; the object's alarm does not.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.js";

/** At most this many expired rows are swept per call, so no call pays for a backlog. */
const SWEEP_BATCH = 256;
/**
 * Expired entries are swept by an alarm at most this often (seconds): an
 * expired entry is already harmless (consume replaces it), so under steady
 * load the sweep costs one alarm per shard per interval, not one a second.
 */
export const SWEEP_INTERVAL = 300;
/** A purge KV keeps refusing is retried this many times, backing off, then left to the record's own TTL. */
const PURGE_ATTEMPTS = 8;
const PURGE_BATCH = 64;

export class ReplayGuardObject extends DurableObject<Env> {
  /** Milliseconds; tests replace it (runInDurableObject) to drive the alarm on a controlled clock. */
  clock: () => number = () => Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS used (
      id TEXT PRIMARY KEY,
      expires_at INTEGER NOT NULL
    )`);
    ctx.storage.sql.exec("CREATE INDEX IF NOT EXISTS used_expiry ON used (expires_at)");
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS purges (
      key TEXT PRIMARY KEY,
      due_ms INTEGER NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0
    )`);
    // Purges still owed get their alarm back whenever the shard starts. The
    // platform keeps alarms, but workerd (local development, the tests)
    // forgets them on a restart (workerd#2927), and a purge is a promise.
    void ctx.blockConcurrencyWhile(async () => {
      if (ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM purges").one().n > 0) await this.scheduleAlarm();
    });
  }

  /**
   * Records the first use of `id`; true for the first call, false for every
   * later one while the entry lives. `expiresAt` (unix seconds) is when the
   * guarded ticket or session would have expired anyway. Synchronous SQL:
   * no other call can interleave between the check and the insert.
   */
  consume(id: string, expiresAt: number, now: number): boolean {
    const sql = this.ctx.storage.sql;
    this.sweep(now);
    const existing = sql.exec<{ expires_at: number }>("SELECT expires_at FROM used WHERE id = ?", id).toArray()[0];
    if (existing && existing.expires_at > now) return false;
    sql.exec("INSERT OR REPLACE INTO used (id, expires_at) VALUES (?, ?)", id, expiresAt);
    void this.scheduleAlarm();
    return true;
  }

  /**
   * Deletes KV key `key` once `afterMs` milliseconds have passed (by this
   * object's clock: the caller's service clock may differ), retrying with
   * backoff while KV refuses. A later call for the same key moves it later.
   */
  async purgeLater(key: string, afterMs: number): Promise<void> {
    const due = this.clock() + Math.max(0, afterMs);
    this.ctx.storage.sql.exec(
      "INSERT INTO purges (key, due_ms) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET due_ms = max(due_ms, excluded.due_ms), attempts = 0",
      key,
      due,
    );
    await this.scheduleAlarm();
  }

  /** How many entries are stored (tests and the status page). */
  size(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM used").one().n;
  }

  /** Purges not yet done (tests). */
  pendingPurges(): string[] {
    return this.ctx.storage.sql.exec<{ key: string }>("SELECT key FROM purges ORDER BY key").toArray().map((r) => r.key);
  }

  override async alarm(): Promise<void> {
    const nowMs = this.clock();
    await this.runPurges(nowMs);
    this.sweep(Math.floor(nowMs / 1000));
    // Inside the handler the alarm that fired may still read as set: set the next one regardless.
    await this.scheduleAlarm(true);
  }

  private async runPurges(nowMs: number): Promise<void> {
    const sql = this.ctx.storage.sql;
    const due = sql.exec<{ key: string; attempts: number }>("SELECT key, attempts FROM purges WHERE due_ms <= ? ORDER BY due_ms LIMIT ?", nowMs, PURGE_BATCH).toArray();
    for (const { key, attempts } of due) {
      try {
        await this.env.SESSIONS.delete(key);
        sql.exec("DELETE FROM purges WHERE key = ?", key);
      } catch (e) {
        // KV refused (another write to the key this second) or failed: back off, bounded.
        if (attempts + 1 >= PURGE_ATTEMPTS) {
          console.error(JSON.stringify({ level: "error", event: "purge_abandoned", error: e instanceof Error ? e.message : String(e) }));
          sql.exec("DELETE FROM purges WHERE key = ?", key);
        } else {
          sql.exec("UPDATE purges SET due_ms = ?, attempts = ? WHERE key = ?", nowMs + 1000 * 2 ** attempts, attempts + 1, key);
        }
      }
    }
  }

  private sweep(now: number): void {
    this.ctx.storage.sql.exec(
      "DELETE FROM used WHERE id IN (SELECT id FROM used WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
      now,
      SWEEP_BATCH,
    );
  }

  /**
   * One alarm for both jobs: the earliest purge due, else the sweep, at the
   * first SWEEP_INTERVAL boundary after the earliest expiry. Set only when
   * it moves earlier (or none is set, or `always`), so consume rarely writes it.
   */
  private async scheduleAlarm(always = false): Promise<void> {
    const sql = this.ctx.storage.sql;
    const purge = sql.exec<{ t: number | null }>("SELECT min(due_ms) AS t FROM purges").one().t;
    const expiry = sql.exec<{ t: number | null }>("SELECT min(expires_at) AS t FROM used").one().t;
    const sweep = expiry === null ? null : Math.ceil(expiry / SWEEP_INTERVAL) * SWEEP_INTERVAL * 1000;
    const candidates = [purge, sweep].filter((t): t is number => t !== null);
    if (candidates.length === 0) return;
    const next = Math.min(...candidates);
    const current = always ? null : await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }
}
