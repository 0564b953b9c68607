/**
 * The ticket routes' contract: what POST /v1/tickets and /v1/tickets/open
 * take and answer, as schemas that validate requests, document the API, type
 * the handlers' answers (src/http/route.ts) and the typed client's results
 * (src/client/types.ts); and the one place each answer is built from its
 * result, for HTTP and RPC alike (src/routes/tickets.ts, src/rpc/methods.ts).
 */
import { encodeHex, sessionToJson, type SessionJson } from "../core/index.js";
import { MAX_TICKET_LIFETIME } from "../config.js";
import { boolean, integer, object, oneOf, optional, string, typed, type Infer } from "../http/schema.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";
import { MAX_TICKET_CHARS } from "../tickets/jwe.js";
import { TICKET_FORMATS, type OpenResult } from "../tickets/open.js";
import type { SealResult } from "../tickets/seal.js";

const SESSION_ID_HEX = { type: "string", pattern: "^([0-9a-f]{2}){1,32}$", description: "lowercase hex, 1 to 32 bytes" };
const unixSeconds = (description = "unix seconds") => integer(0, Number.MAX_SAFE_INTEGER, description);
const sessionId = () => string({ pattern: /^([0-9a-f]{2}){1,32}$/, description: "lowercase hex, 1 to 32 bytes" });

export const SealTicketBody = object({
  session: typed<SessionJson & { session_id?: string }>({ ...SESSION_JSON_SCHEMA, properties: { ...SESSION_JSON_SCHEMA.properties, session_id: SESSION_ID_HEX } }),
  lifetime: optional(integer(1, MAX_TICKET_LIFETIME, "seconds; capped by the context's ticket_lifetime")),
  single_use: optional(boolean("the ticket opens once, fleet-wide")),
  store: optional(boolean("also keep a copy of the session bound to this very ticket, the fallback when a revoke destroys its key; the session id travels in clear in the ticket")),
  format: optional(oneOf(TICKET_FORMATS, "binary (default): the TLS ticket, smallest and fastest; jwe: compact JWE (dir, A256GCM) that an application opens with the exported JWK (docs/ticket-format.md)")),
});

export const OpenTicketBody = object({
  ticket: string({ maxLength: MAX_TICKET_CHARS, description: "a binary ticket as base64url without padding, or a compact JWE ticket (told apart by the dots)" }),
  server_name: optional(string({ minLength: 1, maxLength: 253, pattern: /^[A-Za-z0-9.-]+$/, description: "the SNI of the resuming ClientHello" })),
  obfuscated_ticket_age: optional(integer(0, 0xffffffff)),
});

export const SealedTicket = object({
  ticket: string({ description: "binary: base64url, no padding (hand the bytes to the client as the TLS session ticket); jwe: compact JWE" }),
  format: oneOf(TICKET_FORMATS),
  session_id: sessionId(),
  key_id: integer(0, 0xffffff, "the ring key that sealed it"),
  issued_at: unixSeconds(),
  expires_at: unixSeconds(),
  lifetime_hint: integer(1, MAX_TICKET_LIFETIME, "seconds: what the service will honour (the NewSessionTicket lifetime hint)"),
});

const TicketAge = object(
  {
    client_ms: integer(0, 2 ** 32, "the client's view: (obfuscated_ticket_age - ticket_age_add) mod 2^32"),
    server_ms: integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, "the server's view: now - issued_at"),
    skew_ms: integer(Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, "client_ms - server_ms"),
    window_ms: integer(0, Number.MAX_SAFE_INTEGER),
  },
  "present when the request carried obfuscated_ticket_age and the session ticket_age_add (RFC 8446 4.2.11)",
);

export const OpenedTicket = object({
  session: typed<SessionJson>(SESSION_JSON_SCHEMA),
  session_id: sessionId(),
  format: oneOf(TICKET_FORMATS),
  key_id: integer(0, 0xffffff),
  issued_at: unixSeconds(),
  expires_at: unixSeconds(),
  single_use: boolean(),
  ticket_age: optional(TicketAge),
  renew: boolean("the key no longer encrypts: issue a fresh ticket (OpenSSL's ticket callback returning 2)"),
  source: oneOf(["ticket", "store"] as const, "store: a revoke destroyed the ticket's key and the session came from the copy stored for this very ticket (store: true)"),
});

export type SealTicketRequest = Infer<typeof SealTicketBody>;
export type OpenTicketRequest = Infer<typeof OpenTicketBody>;
export type SealedTicketAnswer = Infer<typeof SealedTicket>;
export type OpenedTicketAnswer = Infer<typeof OpenedTicket>;

export function sealedTicketAnswer(sealed: SealResult): SealedTicketAnswer {
  return {
    ticket: sealed.ticket,
    format: sealed.format,
    session_id: encodeHex(sealed.sessionId),
    key_id: sealed.keyId,
    issued_at: sealed.issuedAt,
    expires_at: sealed.expiresAt,
    lifetime_hint: sealed.lifetime,
  };
}

export function openedTicketAnswer(opened: OpenResult): OpenedTicketAnswer {
  return {
    session: sessionToJson(opened.session),
    session_id: encodeHex(opened.sessionId),
    format: opened.format,
    key_id: opened.keyId,
    issued_at: opened.issuedAt,
    expires_at: opened.expiresAt,
    single_use: opened.singleUse,
    ...(opened.ticketAge && { ticket_age: opened.ticketAge }),
    renew: opened.renew,
    source: opened.source,
  };
}
