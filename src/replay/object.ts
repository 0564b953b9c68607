/**
 * ReplayGuardObject: the fleet's strongly consistent memory of what has been
 * used once. Workers KV is eventually consistent and cannot refuse a second
 * use; a Durable Object serialises every call, so of any number of racing
 * `consume` calls for one id exactly one returns true.
 *
 * The guard is sharded by id (no single global object, see shardFor); each
 * entry lives only until the thing it guards would have expired anyway.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.js";

/** At most this many expired rows are swept per call, so no call pays for a backlog. */
const SWEEP_BATCH = 256;

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
    void this.scheduleSweep(expiresAt);
    return true;
  }

  /** How many entries are stored (tests and the status page). */
  size(): number {
    return this.ctx.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM used").one().n;
  }

  override async alarm(): Promise<void> {
    const now = Math.floor(this.clock() / 1000);
    this.sweep(now);
    const next = this.ctx.storage.sql.exec<{ t: number | null }>("SELECT min(expires_at) AS t FROM used").one().t;
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, now + 1) * 1000);
  }

  private sweep(now: number): void {
    this.ctx.storage.sql.exec(
      "DELETE FROM used WHERE id IN (SELECT id FROM used WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)",
      now,
      SWEEP_BATCH,
    );
  }

  private async scheduleSweep(expiresAt: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > expiresAt * 1000) await this.ctx.storage.setAlarm(expiresAt * 1000);
  }
}
