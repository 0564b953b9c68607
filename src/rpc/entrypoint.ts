/**
 * ResumptionService: the worker's Service Binding entrypoint. Another
 * Worker on the account binds to it (docs/deploy.md shows its wrangler.toml)
 * and calls `env.RESUMPTION.openTicket(token, { ticket })` without going
 * through HTTP. Each method presents a token, as HTTP's Authorization does,
 * and answers an RpcResult: the value, or an RpcError with the stable code
 * (src/rpc/methods.ts has the checks, src/rpc/types.ts the shapes).
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import type { Env } from "../env.js";
import { isolateServices } from "../isolate.js";
import { ResumptionMethods } from "./methods.js";
import type { OpenTicketRequest, ResumptionRpc, SealTicketRequest, StoreSessionRequest } from "./types.js";

export class ResumptionService extends WorkerEntrypoint<Env> implements ResumptionRpc {
  // Private members are not callable over RPC: only the methods below are.
  readonly #methods = new ResumptionMethods(() => isolateServices(this.env), { defer: (p) => this.ctx.waitUntil(p) });

  /** POST /v1/tickets (scope tickets). */
  sealTicket(token: string, request: SealTicketRequest) {
    return this.#methods.sealTicket(token, request);
  }

  /** POST /v1/tickets/open (scope tickets). A ticket as base64url, bytes, or a compact JWE. */
  openTicket(token: string, request: OpenTicketRequest) {
    return this.#methods.openTicket(token, request);
  }

  /** PUT /v1/sessions/{id} (scope sessions). */
  putSession(token: string, id: string, request: StoreSessionRequest) {
    return this.#methods.putSession(token, id, request);
  }

  /** GET /v1/sessions/{id} (scope sessions). */
  getSession(token: string, id: string) {
    return this.#methods.getSession(token, id);
  }

  /** DELETE /v1/sessions/{id} (scope sessions). */
  deleteSession(token: string, id: string) {
    return this.#methods.deleteSession(token, id);
  }
}
