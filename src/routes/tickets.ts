/**
 * POST /v1/tickets: seal a session into a ticket under the active key, as a
 * binary ticket (src/core/ticket.ts, for TLS) or a compact JWE
 * (src/tickets/jwe.ts, for applications with a JOSE library).
 * POST /v1/tickets/open: open either; a ticket that cannot be resumed is a
 * 422 whose code says why (for a TLS server: do a full handshake).
 */
import { Hono } from "hono";
import {
  decodeBase64url,
  decodeHex,
  encodeBase64url,
  encodeHex,
  KeyUnknownError,
  openTicket,
  parseTicketHeader,
  parseSession,
  ResumptionError,
  sealTicket,
  sessionToJson,
  type Bytes,
  type OpenedTicket,
  type OpenOptions,
  type Session,
} from "../core/index.js";
import { MAX_TICKET_LIFETIME } from "../config.js";
import { deferTo, type AppContext, type AppEnv } from "../http/context.js";
import { apiRoutes } from "../http/route.js";
import { ServiceError } from "../http/errors.js";
import { boolean, integer, object, oneOf, optional, passthrough, string } from "../http/schema.js";
import { keyState } from "../keyring/schedule.js";
import { noteOutcome } from "../observability/log.js";
import { ticketUseId } from "../replay/guard.js";
import { SESSION_JSON_SCHEMA } from "../http/session-schema.js";
import { isJweTicket, MAX_TICKET_CHARS, openJweTicket, parseJweHeader, sealJweTicket } from "../tickets/jwe.js";

export const TICKET_FORMATS = ["binary", "jwe"] as const;

export const SealTicketBody = object({
  session: passthrough({ ...SESSION_JSON_SCHEMA, properties: { ...SESSION_JSON_SCHEMA.properties, session_id: { type: "string", pattern: "^([0-9a-f]{2}){1,32}$" } } }),
  lifetime: optional(integer(1, MAX_TICKET_LIFETIME, "seconds; capped by the context's ticket_lifetime")),
  single_use: optional(boolean("the ticket opens once, fleet-wide")),
  store: optional(boolean("also store the session under its id, as the fallback when the ticket's key is gone")),
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
    source: { type: "string", enum: ["ticket", "store"], description: "store: the ticket's key is gone and the session came from the session store" },
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
    description: "The lifetime is capped by the context's ticket_lifetime, RFC 8446's 7 days and the key's remaining life. store: true also stores the session under its id (the fallback when the key is gone).",
    scope: "tickets",
    body: SealTicketBody,
    responses: { 201: { description: "the ticket", schema: SEALED_TICKET } },
    errors: ["session_invalid", "invalid_session_id", "keyring_unavailable", "cache_disabled", "session_exists", "write_rate_limited", "store_unavailable"],
  },
  async (c, { body }) => {
    const { services, caller } = c.var;
    const settings = services.config.contexts.get(caller.context)!;
    const now = services.now();
    const key = await services.keyRing.sealingKey(caller.context, now, deferTo(c));
    // Never promise more than the service will honour: the context's limit,
    // RFC 8446's 7 days, and the sealing key's own remaining life.
    const lifetime = Math.min(body.lifetime ?? settings.ticket_lifetime, settings.ticket_lifetime, MAX_TICKET_LIFETIME, key.times.expires_at - now);
    const session = parseSession(body.session, { now, timeout: lifetime }, "session", ["session_id"]);
    const sessionId = sessionIdFrom(body.session) ?? crypto.getRandomValues(new Uint8Array(32));
    const format = body.format ?? "binary";
    const input = {
      session,
      sessionId,
      withLookupId: body.store === true,
      issuedAt: now,
      lifetime,
      singleUse: body.single_use === true,
      context: caller.context,
      keyId: key.times.id,
      key: await key.subkey,
    };
    const ticket = format === "jwe" ? await sealJweTicket(input) : encodeBase64url(await sealTicket(input));
    if (body.store === true) {
      // The fallback for when the ticket's key is gone: the same session
      // under its id, expiring with the ticket (docs/session-store.md). A
      // failure here issues no ticket.
      const times = { createdAt: now, expiresAt: now + lifetime, timeout: lifetime, singleUse: body.single_use === true };
      await services.sessions.context(caller.context).put("server", encodeHex(sessionId), session, times, now);
    }
    return c.json(
      {
        ticket,
        format,
        session_id: encodeHex(sessionId),
        key_id: key.times.id,
        issued_at: now,
        expires_at: now + lifetime,
        lifetime_hint: lifetime,
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
    const settings = services.config.contexts.get(caller.context)!;
    const now = services.now();
    // Refuse garbage before any ring work; learn of an unknown key id
    // (refreshing the ring once) before opening.
    const ticket = readTicket(body.ticket);
    const { header } = ticket;
    const times = await services.keyRing.decryptingKey(header.keyId, now, deferTo(c));
    let opened;
    try {
      opened = await ticket.open({ context: caller.context, now, keys: services.keyRing.openingKeys(times) });
    } catch (err) {
      if (err instanceof KeyUnknownError && err.lookupId) return openFromStore(c, err, ticket, body, now);
      throw err;
    }
    checkServerName(opened.session, body.server_name);
    const ticketAge = checkTicketAge(opened, body.obfuscated_ticket_age, services.nowMs(), settings.ticket_age_window);
    // Last, once every other check has passed, so a refused attempt does not
    // use the ticket up. Only single-use tickets pay for this call.
    if (opened.singleUse && !(await services.replayGuard.consume(ticketUseId(header.keyId, header.nonce), opened.expiresAt, now))) {
      throw new ServiceError("ticket_replayed", "this single-use ticket was already opened");
    }
    // The key no longer encrypts: the caller should issue a fresh ticket
    // (OpenSSL's ticket callback returns 2 for this).
    const renew = !times || keyState(times, now) !== "active";
    noteOutcome(c, { source: "ticket", renew, single_use: opened.singleUse });
    return c.json({
      session: sessionToJson(opened.session),
      session_id: encodeHex(opened.sessionId),
      format: ticket.format,
      key_id: opened.keyId,
      issued_at: opened.issuedAt,
      expires_at: opened.expiresAt,
      single_use: opened.singleUse,
      ...(ticketAge && { ticket_age: ticketAge }),
      renew,
      source: "ticket",
    });
  },
);

/** What the open route needs of a ticket of either format, from its clear parts. */
interface ReadTicket {
  format: (typeof TICKET_FORMATS)[number];
  /** The key id, the lookup id (session id in clear, if any) and the nonce (the single-use identity). */
  header: { keyId: number; lookupId: Bytes | undefined; nonce: Bytes };
  open(options: OpenOptions): Promise<OpenedTicket>;
}

/** Tells the formats apart (a compact JWE has dots, base64url none) and judges the clear parts before any crypto. */
function readTicket(text: string): ReadTicket {
  if (isJweTicket(text)) {
    const header = parseJweHeader(text);
    return { format: "jwe", header, open: (options) => openJweTicket(text, options, header) };
  }
  const bytes = decodeBase64url(text);
  if (!bytes) throw new ResumptionError("ticket_malformed", "the ticket is not base64url without padding");
  const header = parseTicketHeader(bytes);
  return { format: "binary", header, open: (options) => openTicket(bytes, options, header) };
}

/**
 * The ticket's key is gone (its window ended, or a revoke destroyed it) but
 * the ticket carries its session id in clear: a session stored with it
 * (store: true) may still answer, in the same context, as a renewal. Not
 * found or expired: the original key_unknown. Only this failure path calls
 * KV; the store's record keeps the ticket's issue and expiry times.
 */
async function openFromStore(
  c: AppContext,
  err: KeyUnknownError,
  { header, format }: ReadTicket,
  body: { server_name?: string | undefined; obfuscated_ticket_age?: number | undefined },
  now: number,
): Promise<Response> {
  const { services, caller } = c.var;
  const store = services.sessions.context(caller.context);
  if (!store.supports("server")) throw err;
  const sessionId = encodeHex(err.lookupId!);
  const record = await store.get("server", sessionId, now);
  if (!record) throw err;
  checkServerName(record.session, body.server_name);
  const settings = services.config.contexts.get(caller.context)!;
  const ticketAge = checkTicketAge({ issuedAt: record.createdAt, session: record.session }, body.obfuscated_ticket_age, services.nowMs(), settings.ticket_age_window);
  // The ticket's single-use flag is sealed under the lost key; the record kept a copy.
  if (record.singleUse && !(await services.replayGuard.consume(ticketUseId(header.keyId, header.nonce), record.expiresAt, now))) {
    throw new ServiceError("ticket_replayed", "this single-use ticket was already opened");
  }
  noteOutcome(c, { source: "store", renew: true, single_use: record.singleUse });
  return c.json({
    session: sessionToJson(record.session),
    session_id: sessionId,
    format,
    key_id: err.keyId,
    issued_at: record.createdAt,
    expires_at: record.expiresAt,
    single_use: record.singleUse,
    ...(ticketAge && { ticket_age: ticketAge }),
    renew: true,
    source: "store",
  });
}

/**
 * RFC 8446 4.6.1 (and OpenSSL up to TLS 1.2): a session resumes only under
 * the server name it was made for. DNS names compare case-insensitively; the
 * session's is stored lowercase.
 */
export function checkServerName(session: Session, requested: string | undefined): void {
  if (requested === undefined || session.server_name === undefined) return;
  if (requested.toLowerCase() !== session.server_name) {
    throw new ServiceError("sni_mismatch", "the session was made for another server_name");
  }
}

export interface TicketAge {
  /** The client's view: (obfuscated_ticket_age - ticket_age_add) mod 2^32, in ms. */
  client_ms: number;
  /** The server's view: now - issued_at, in ms. */
  server_ms: number;
  /** client_ms - server_ms: how far the client's clock and path disagree. */
  skew_ms: number;
  window_ms: number;
}

/**
 * RFC 8446 4.2.11 and 8.3: when both the request's obfuscated_ticket_age and
 * the session's ticket_age_add are known, the ages must agree within the
 * window, else the ticket is refused (and 0-RTT data with it). The answer
 * reports the skew so the caller can decide about early data.
 */
export function checkTicketAge(
  opened: { issuedAt: number; session: Session },
  obfuscated: number | undefined,
  nowMs: number,
  windowSeconds: number,
): TicketAge | undefined {
  const ageAdd = opened.session.ticket_age_add;
  if (obfuscated === undefined || ageAdd === undefined) return undefined;
  const clientMs = (obfuscated - ageAdd + 2 ** 32) % 2 ** 32;
  const serverMs = nowMs - opened.issuedAt * 1000;
  const age: TicketAge = { client_ms: clientMs, server_ms: serverMs, skew_ms: clientMs - serverMs, window_ms: windowSeconds * 1000 };
  if (Math.abs(age.skew_ms) > age.window_ms) {
    throw new ServiceError(
      "ticket_age_mismatch",
      `the client's ticket age differs from the server's by ${age.skew_ms} ms (window ${age.window_ms} ms)`,
      { details: { ...age } },
    );
  }
  return age;
}

function sessionIdFrom(session: unknown): Uint8Array<ArrayBuffer> | undefined {
  const raw = (session as Record<string, unknown> | null)?.session_id;
  if (raw === undefined) return undefined;
  const id = typeof raw === "string" && raw.length <= 64 ? decodeHex(raw) : undefined;
  if (!id || id.length === 0) throw new ServiceError("invalid_session_id", "session.session_id must be 1 to 32 bytes of lowercase hex", { field: "session.session_id" });
  return id;
}
