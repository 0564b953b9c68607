/**
 * POST /v1/tickets: seal a session into a ticket (src/tickets/seal.ts).
 * POST /v1/tickets/open: open a ticket of either format (src/tickets/open.ts);
 * a ticket that cannot be resumed is a 422 whose code says why (for a TLS
 * server: do a full handshake). The handlers only validate the body and turn
 * the result into JSON.
 */
import { Hono } from "hono";
import { encodeHex, sessionToJson } from "../core/index.js";
import { MAX_TICKET_LIFETIME } from "../config.js";
import { deferTo, type AppEnv } from "../http/context.js";
import { apiRoutes } from "../http/route.js";
import { boolean, integer, object, oneOf, optional, passthrough, string } from "../http/schema.js";
import { noteOutcome } from "../observability/log.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";
import { MAX_TICKET_CHARS } from "../tickets/jwe.js";
import { openPresentedTicket, TICKET_FORMATS } from "../tickets/open.js";
import { sealPresentedSession } from "../tickets/seal.js";

export const SealTicketBody = object({
  session: passthrough({ ...SESSION_JSON_SCHEMA, properties: { ...SESSION_JSON_SCHEMA.properties, session_id: { type: "string", pattern: "^([0-9a-f]{2}){1,32}$" } } }),
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

const SESSION_ID_HEX = { type: "string", pattern: "^([0-9a-f]{2}){1,32}$", description: "lowercase hex, 1 to 32 bytes" };
const UNIX_SECONDS = { type: "integer", description: "unix seconds" };

const SEALED_TICKET = {
  type: "object",
  properties: {
    ticket: { type: "string", description: "binary: base64url, no padding (hand the bytes to the client as the TLS session ticket); jwe: compact JWE" },
    format: { type: "string", enum: [...TICKET_FORMATS] },
    session_id: SESSION_ID_HEX,
    key_id: { type: "integer", description: "the ring key that sealed it" },
    issued_at: UNIX_SECONDS,
    expires_at: UNIX_SECONDS,
    lifetime_hint: { type: "integer", description: "seconds: what the service will honour (the NewSessionTicket lifetime hint)" },
  },
};

const OPENED_TICKET = {
  type: "object",
  properties: {
    session: SESSION_JSON_SCHEMA,
    session_id: SESSION_ID_HEX,
    format: { type: "string", enum: [...TICKET_FORMATS] },
    key_id: { type: "integer" },
    issued_at: UNIX_SECONDS,
    expires_at: UNIX_SECONDS,
    single_use: { type: "boolean" },
    renew: { type: "boolean", description: "the key no longer encrypts: issue a fresh ticket (OpenSSL's ticket callback returning 2)" },
    source: { type: "string", enum: ["ticket", "store"], description: "store: a revoke destroyed the ticket's key and the session came from the copy stored for this very ticket (store: true)" },
    ticket_age: {
      type: "object",
      description: "present when the request carried obfuscated_ticket_age and the session ticket_age_add (RFC 8446 4.2.11)",
      properties: { client_ms: { type: "integer" }, server_ms: { type: "integer" }, skew_ms: { type: "integer" }, window_ms: { type: "integer" } },
    },
  },
};

export const tickets = new Hono<AppEnv>();

apiRoutes.define(
  tickets,
  {
    method: "post",
    path: "/v1/tickets",
    summary: "Seal a session into a ticket under the active key.",
    description: "The lifetime is capped by the context's ticket_lifetime, RFC 8446's 7 days and the key's remaining life. store: true also keeps a copy of the session bound to this very ticket: the fallback when a revoke destroys its key.",
    scope: "tickets",
    body: SealTicketBody,
    responses: { 201: { description: "the ticket", schema: SEALED_TICKET } },
    errors: ["session_invalid", "invalid_session_id", "keyring_unavailable", "cache_disabled", "store_unavailable"],
  },
  async (c, { body }) => {
    const { services, caller } = c.var;
    const sealed = await sealPresentedSession(services, services.config.contexts.get(caller.context)!, body, deferTo(c));
    return c.json(
      {
        ticket: sealed.ticket,
        format: sealed.format,
        session_id: encodeHex(sealed.sessionId),
        key_id: sealed.keyId,
        issued_at: sealed.issuedAt,
        expires_at: sealed.expiresAt,
        lifetime_hint: sealed.lifetime,
      },
      201,
    );
  },
);

apiRoutes.define(
  tickets,
  {
    method: "post",
    path: "/v1/tickets/open",
    summary: "Open a ticket. A 422 means: do a full handshake; its code says why.",
    scope: "tickets",
    body: OpenTicketBody,
    responses: { 200: { description: "the session", schema: OPENED_TICKET } },
    errors: [
      "ticket_malformed", "ticket_unsupported_version", "ticket_unsupported_algorithm", "key_unknown", "ticket_invalid", "ticket_expired", "context_mismatch",
      "ticket_replayed", "ticket_age_mismatch", "sni_mismatch", "replay_guard_unavailable", "keyring_unavailable", "store_unavailable",
    ],
  },
  async (c, { body }) => {
    const { services, caller } = c.var;
    const opened = await openPresentedTicket(services, services.config.contexts.get(caller.context)!, body, deferTo(c));
    noteOutcome(c, { source: opened.source, renew: opened.renew, single_use: opened.singleUse });
    return c.json({
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
    });
  },
);
