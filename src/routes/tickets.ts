/**
 * POST /v1/tickets: seal a session into a ticket under the active key.
 * POST /v1/tickets/open: open a ticket; a ticket that cannot be resumed is a
 * 422 whose code says why (for a TLS server: do a full handshake).
 */
import { Hono } from "hono";
import {
  decodeBase64url,
  decodeHex,
  encodeBase64url,
  encodeHex,
  MAX_TICKET_BYTES,
  openTicket,
  parseTicketHeader,
  parseSession,
  ResumptionError,
  sealTicket,
  sessionToJson,
} from "../core/index.js";
import { MAX_TICKET_LIFETIME } from "../config.js";
import { requireScope } from "../http/auth.js";
import { readJsonObject } from "../http/body.js";
import { deferTo, type AppEnv } from "../http/context.js";
import { ServiceError } from "../http/errors.js";
import { boolean, integer, object, optional, passthrough, string } from "../http/schema.js";
import { keyState } from "../keyring/schedule.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";

/** The longest base64url text that can hold a 65535-byte ticket: longer is refused before decoding. */
const MAX_TICKET_CHARS = Math.ceil((MAX_TICKET_BYTES * 4) / 3);

export const SealTicketBody = object({
  session: passthrough({ ...SESSION_JSON_SCHEMA, properties: { ...SESSION_JSON_SCHEMA.properties, session_id: { type: "string", pattern: "^([0-9a-f]{2}){1,32}$" } } }),
  lifetime: optional(integer(1, MAX_TICKET_LIFETIME, "seconds; capped by the context's ticket_lifetime")),
  single_use: optional(boolean("the ticket opens once, fleet-wide")),
  store: optional(boolean("also store the session under its id, as the fallback when the ticket's key is gone")),
});

export const OpenTicketBody = object({
  ticket: string({ maxLength: MAX_TICKET_CHARS, description: "base64url, no padding" }),
  server_name: optional(string({ minLength: 1, maxLength: 253 })),
  obfuscated_ticket_age: optional(integer(0, 0xffffffff)),
});

export const tickets = new Hono<AppEnv>()
  .post("/v1/tickets", async (c) => {
    requireScope(c.var.caller, "tickets");
    const body = SealTicketBody.parse(await readJsonObject(c.req.raw), "");
    const { services, caller } = c.var;
    const settings = services.config.contexts.get(caller.context)!;
    const now = services.now();
    const key = await services.keyRing.sealingKey(caller.context, now, deferTo(c));
    // Never promise more than the service will honour: the context's limit,
    // RFC 8446's 7 days, and the sealing key's own remaining life.
    const lifetime = Math.min(body.lifetime ?? settings.ticket_lifetime, settings.ticket_lifetime, MAX_TICKET_LIFETIME, key.times.expires_at - now);
    const session = parseSession(body.session, { now, timeout: lifetime }, "session", ["session_id"]);
    const sessionId = sessionIdFrom(body.session) ?? crypto.getRandomValues(new Uint8Array(32));
    const ticket = await sealTicket({
      session,
      sessionId,
      withLookupId: body.store === true,
      issuedAt: now,
      lifetime,
      singleUse: body.single_use === true,
      context: caller.context,
      keyId: key.times.id,
      key: await key.subkey,
    });
    return c.json(
      {
        ticket: encodeBase64url(ticket),
        session_id: encodeHex(sessionId),
        key_id: key.times.id,
        issued_at: now,
        expires_at: now + lifetime,
        lifetime_hint: lifetime,
      },
      201,
    );
  })
  .post("/v1/tickets/open", async (c) => {
    requireScope(c.var.caller, "tickets");
    const body = OpenTicketBody.parse(await readJsonObject(c.req.raw), "");
    const { services, caller } = c.var;
    const now = services.now();
    const bytes = decodeBase64url(body.ticket);
    if (!bytes) throw new ResumptionError("ticket_malformed", "the ticket is not base64url without padding");
    // Refuse garbage before any ring work; learn of an unknown key id
    // (refreshing the ring once) before opening.
    const header = parseTicketHeader(bytes);
    const times = await services.keyRing.decryptingKey(header.keyId, now, deferTo(c));
    const opened = await openTicket(
      bytes,
      { context: caller.context, now, keys: services.keyRing.openingSource(now), otherContexts: services.config.contextNames },
      header,
    );
    return c.json({
      session: sessionToJson(opened.session),
      session_id: encodeHex(opened.sessionId),
      key_id: opened.keyId,
      issued_at: opened.issuedAt,
      expires_at: opened.expiresAt,
      // The key no longer encrypts: the caller should issue a fresh ticket
      // (OpenSSL's ticket callback returns 2 for this).
      renew: !times || keyState(times, now) !== "active",
      source: "ticket",
    });
  });

function sessionIdFrom(session: unknown): Uint8Array<ArrayBuffer> | undefined {
  const raw = (session as Record<string, unknown> | null)?.session_id;
  if (raw === undefined) return undefined;
  const id = typeof raw === "string" && raw.length <= 64 ? decodeHex(raw) : undefined;
  if (!id || id.length === 0) throw new ServiceError("invalid_session_id", "session.session_id must be 1 to 32 bytes of lowercase hex", { field: "session.session_id" });
  return id;
}
