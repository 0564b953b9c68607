/**
 * The store fallback's records. A ticket sealed with `store: true` also
 * leaves its session in KV, under the ticket's own identity (its key id and
 * nonce, as they stand in its clear header) and bound to the exact ticket:
 * the record seals, with the session, the SHA-256 of the ticket's bytes. The
 * fallback of POST /v1/tickets/open reads it only for a ticket whose bytes
 * hash to that digest, so a made-up or rewritten ticket finds nothing, and
 * nothing stored through /v1/sessions is ever reachable through a ticket:
 * those records live under other keys, of another kind, bound to no ticket.
 *
 * Records go straight to KV (no isolate cache): the fallback runs only for
 * tickets whose key was revoked, and a copy is read at most once per ticket.
 */
import { bytesEqual, type Bytes, type Session } from "../core/index.js";
import type { ExternalCache } from "./external.js";
import type { StoredRecord } from "./records.js";

export interface TicketCopyTimes {
  /** The ticket's issue time, unix seconds. */
  issuedAt: number;
  /** The ticket's expiry, unix seconds: the copy expires with it. */
  expiresAt: number;
  singleUse: boolean;
  /** The ticket's replay-guard region code (sealed in the ticket too), 0 for none. */
  region: number;
}

/** SHA-256 of a ticket's exact bytes (binary) or text (JWE, as UTF-8). */
export async function ticketDigest(ticket: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", ticket));
}

export class TicketCopies {
  constructor(private readonly external: ExternalCache) {}

  /** Stores the session of the ticket named `name` (key id and nonce), bound to the ticket's digest. */
  async put(context: string, name: string, digest: Bytes, session: Session, times: TicketCopyTimes, now: number): Promise<void> {
    const record: StoredRecord = {
      session,
      digest,
      createdAt: times.issuedAt,
      expiresAt: times.expiresAt,
      timeout: times.expiresAt - times.issuedAt,
      singleUse: times.singleUse,
      region: times.region,
    };
    await this.external.write("ticket", context, name, record, now);
  }

  /**
   * The copy stored for exactly this ticket: undefined when there is none,
   * it has expired, or it was stored for other bytes under the same name.
   */
  async find(context: string, name: string, presented: Bytes, now: number): Promise<StoredRecord | undefined> {
    const read = await this.external.read("ticket", context, name, now);
    if (read.status !== "found") return undefined;
    return bytesEqual(read.record.digest, await ticketDigest(presented)) ? read.record : undefined;
  }

  /** Removes the copy (after a single-use ticket's one use). */
  remove(context: string, name: string): Promise<void> {
    return this.external.remove("ticket", context, name);
  }
}
