/**
 * A ticket's identity: its key id and its random nonce (the JWE IV), as its
 * clear header states them. Both formats have them; on the ticket path they
 * are authenticated (AAD), and a store: true ticket's copy is found by them
 * and then bound to the exact bytes (src/store/ticket-copies.ts). Single use
 * is judged on this identity on both paths, so every way of opening one
 * ticket is the same use.
 */
import { encodeHex, type Bytes } from "../core/index.js";

export interface TicketIdentity {
  keyId: number;
  nonce: Bytes;
}

/** The name of the ticket's copy in the store, and the core of its single-use id. */
export function ticketName({ keyId, nonce }: TicketIdentity): string {
  return `${keyId.toString(16)}:${encodeHex(nonce)}`;
}

/**
 * The replay guard's id for one use of this ticket in `context`. The ring
 * is shared by every context, so key id and nonce alone would let one
 * context's ticket (sealed with its own subkey, the same key id and a copied
 * nonce) use up another's; the context is authenticated on both paths (the
 * AAD; the copy's context-bound record).
 */
export function ticketUseId(context: string, ticket: TicketIdentity): string {
  return `t:${context}:${ticketName(ticket)}`;
}
