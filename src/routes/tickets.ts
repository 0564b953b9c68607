/**
 * POST /v1/tickets: seal a session into a ticket (src/tickets/seal.ts).
 * POST /v1/tickets/open: open a ticket of either format (src/tickets/open.ts);
 * a ticket that cannot be resumed is a 422 whose code says why (for a TLS
 * server: do a full handshake). The contract is src/api/tickets.ts; the
 * handlers only hand the body to the module and its result to the answer.
 */
import { OpenedTicket, OpenTicketBody, openedTicketAnswer, SealedTicket, sealedTicketAnswer, SealTicketBody } from "../api/tickets.js";
import { deferTo } from "../http/context.js";
import { route } from "../http/route.js";
import { noteOutcome } from "../observability/log.js";
import { openPresentedTicket } from "../tickets/open.js";
import { sealPresentedSession } from "../tickets/seal.js";

export const ticketRoutes = [
  route(
    {
      method: "post",
      path: "/v1/tickets",
      summary: "Seal a session into a ticket under the active key.",
      description:
        "The lifetime is capped by the context's ticket_lifetime, RFC 8446's 7 days and the key's remaining life. store: true also keeps a copy of the session bound to this very ticket: the fallback when a revoke destroys its key.",
      scope: "tickets",
      body: SealTicketBody,
      responses: { 201: { description: "the ticket", schema: SealedTicket } },
      errors: ["session_invalid", "invalid_session_id", "keyring_unavailable", "cache_disabled", "store_unavailable"],
    },
    async (c, { body }) => {
      const { services, caller } = c.var;
      const sealed = await sealPresentedSession(services, services.config.contexts.get(caller.context)!, body, deferTo(c));
      return { status: 201, body: sealedTicketAnswer(sealed) };
    },
  ),
  route(
    {
      method: "post",
      path: "/v1/tickets/open",
      summary: "Open a ticket. A 422 means: do a full handshake; its code says why.",
      scope: "tickets",
      body: OpenTicketBody,
      responses: { 200: { description: "the session", schema: OpenedTicket } },
      errors: [
        "ticket_malformed", "ticket_unsupported_version", "ticket_unsupported_algorithm", "key_unknown", "ticket_invalid", "ticket_expired", "context_mismatch",
        "ticket_replayed", "ticket_age_mismatch", "sni_mismatch", "replay_guard_unavailable", "keyring_unavailable", "store_unavailable",
      ],
    },
    async (c, { body }) => {
      const { services, caller } = c.var;
      const opened = await openPresentedTicket(services, services.config.contexts.get(caller.context)!, body, deferTo(c));
      noteOutcome(c, { source: opened.source, renew: opened.renew, single_use: opened.singleUse });
      return { status: 200, body: openedTicketAnswer(opened) };
    },
  ),
];
