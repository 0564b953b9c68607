/**
 * The RPC methods behind the Service Binding entrypoint (./entrypoint.ts),
 * on the same code as the HTTP routes: the token is checked as an
 * `Authorization: Bearer` header would be (src/http/auth.ts: API tokens, or
 * a JWT of an issuer listening on authorization), the scope as the route
 * declares it, the input by the route's own schema after the same JSON and
 * 64 KiB bounds, and the work is done by the modules the routes call
 * (src/tickets/seal.ts, src/tickets/open.ts, the session store). Every
 * failure is an RpcError value with the code and status HTTP would answer.
 *
 * Why a token per call, and not a context configured on the binding (its
 * `props`): any Worker deployed on the account can declare a binding to this
 * one with any props, so props would trust whoever can deploy a Worker there.
 * A token is a secret the calling Worker holds, names one context and its
 * scopes in this service's own API_TOKENS (or JWT_ISSUERS), and is revoked
 * there without touching the caller: the HTTP model, unchanged. Its cost is
 * one SHA-256 per call (docs/benchmarks.md).
 *
 * Each call writes one JSON log line, as the request log does for HTTP
 * (method, status, code, context, auth, duration; never the token, the
 * ticket or the session).
 */
import { encodeBase64url, type Bytes } from "../core/index.js";
import type { Caller, Scope } from "../auth/caller.js";
import { authenticateRequest, requireScope } from "../http/auth.js";
import { MAX_BODY_BYTES } from "../http/body.js";
import { describeError } from "../http/errors.js";
import { ServiceError } from "../errors.js";
import type { Schema } from "../http/schema.js";
import { sessionIdField, storedSession, storedSessionInfo, StoreSessionBody } from "../api/sessions.js";
import { OpenTicketBody, openedTicketAnswer, SealTicketBody, sealedTicketAnswer } from "../api/tickets.js";
import type { Services } from "../services.js";
import { openPresentedTicket } from "../tickets/open.js";
import { sealPresentedSession } from "../tickets/seal.js";
import { sessionWithTimes } from "../store/session-times.js";
import type { DeletedSession, OpenTicketRequest, ResumptionRpc, RpcError, RpcOpenedTicket, RpcResult, SealedTicket, SealTicketRequest, StoredSession, StoredSessionInfo, StoreSessionRequest } from "./types.js";

export interface RpcOptions {
  /** Keeps background work (a ring refresh, a used copy's removal) alive past the answer: the entrypoint's ctx.waitUntil. */
  defer?: (p: Promise<unknown>) => void;
  /** Where the log lines go (console.log by default). */
  write?: (line: string) => void;
}

/** An RPC argument as HTTP would have received it: JSON, at most 64 KiB, an object. */
function asJsonObject(input: unknown): Record<string, unknown> {
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch {
    text = undefined;
  }
  if (text === undefined) throw new ServiceError("invalid_json", "the request is not a JSON value (a cycle, a BigInt, a function?)");
  // UTF-8 is at most 3 bytes per UTF-16 unit: count exactly only when it could matter.
  if (text.length > MAX_BODY_BYTES / 3 && new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    throw new ServiceError("body_too_large", "the request is over 64 KiB as JSON");
  }
  const value: unknown = JSON.parse(text);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ServiceError("invalid_request", "the request must be an object");
  return value as Record<string, unknown>;
}

const parse = <T>(schema: Schema<T>, input: unknown): T => schema.parse(asJsonObject(input), "");

const sessionId = (id: unknown): string => sessionIdField.parse(id, "id");

function toRpcError(err: unknown): RpcError {
  const { status, body, headers } = describeError(err);
  const retryAfter = headers["retry-after"];
  return {
    ...body.error,
    status,
    ...(retryAfter !== undefined && /^[0-9]+$/.test(retryAfter) && { retry_after: Number(retryAfter) }),
  };
}

/** The status HTTP answers the same success with, for the log line. */
function statusOf(method: string, value: unknown): number {
  if (method === "sealTicket" || method === "putSession") return 201;
  if (method === "deleteSession") return (value as DeletedSession).outcome === "removed" ? 204 : 202;
  return 200;
}

export class ResumptionMethods implements ResumptionRpc {
  private readonly write: (line: string) => void;

  constructor(
    private readonly services: () => Services,
    private readonly options: RpcOptions = {},
  ) {
    this.write = options.write ?? ((line) => console.log(line));
  }

  sealTicket(token: string, request: SealTicketRequest): Promise<RpcResult<SealedTicket>> {
    return this.call("sealTicket", token, "tickets", async (services, caller) => {
      const body = parse(SealTicketBody, request);
      const sealed = await sealPresentedSession(services, services.config.contexts.get(caller.context)!, body, this.options.defer);
      return sealedTicketAnswer(sealed);
    });
  }

  openTicket(token: string, request: OpenTicketRequest): Promise<RpcResult<RpcOpenedTicket>> {
    return this.call("openTicket", token, "tickets", async (services, caller) => {
      // A terminator Worker holds the ticket's bytes: take them as they are.
      const ticket = (request as { ticket?: unknown } | null)?.ticket;
      const input = ticket instanceof Uint8Array ? { ...request, ticket: encodeBase64url(ticket as Bytes) } : request;
      const body = parse(OpenTicketBody, input);
      const opened = await openPresentedTicket(services, services.config.contexts.get(caller.context)!, body, this.options.defer);
      return openedTicketAnswer(opened);
    });
  }

  putSession(token: string, id: string, request: StoreSessionRequest): Promise<RpcResult<StoredSessionInfo>> {
    return this.call("putSession", token, "sessions", async (services, caller) => {
      const store = services.sessions.context(caller.context);
      store.require("server");
      const key = sessionId(id);
      const now = services.now();
      const { session, times: t } = sessionWithTimes(parse(StoreSessionBody, request), store.settings, now);
      const { record } = await store.put("server", key, session, t, now);
      return storedSessionInfo(key, record);
    });
  }

  getSession(token: string, id: string): Promise<RpcResult<StoredSession>> {
    return this.call("getSession", token, "sessions", async (services, caller) => {
      const store = services.sessions.context(caller.context);
      store.require("server");
      const key = sessionId(id);
      const record = await store.get("server", key, services.now());
      if (!record) throw new ServiceError("session_not_found", "no session is stored under this id");
      return storedSession(key, record);
    });
  }

  deleteSession(token: string, id: string): Promise<RpcResult<DeletedSession>> {
    return this.call("deleteSession", token, "sessions", async (services, caller) => {
      const store = services.sessions.context(caller.context);
      store.require("server");
      // A purge, as DELETE's: never refused; "pending" is HTTP's 202 (KV takes the delete within 2 s).
      return { outcome: await store.remove("server", sessionId(id), services.now(), this.options.defer) };
    });
  }

  /** Services, caller, scope, then the work; any failure becomes the RpcError HTTP would have answered. One log line. */
  private async call<T>(method: string, token: unknown, scope: Scope, run: (services: Services, caller: Caller) => Promise<T>): Promise<RpcResult<T>> {
    const start = performance.now();
    let caller: Caller | undefined;
    let result: RpcResult<T>;
    try {
      const services = this.services();
      // Exactly what an `Authorization: Bearer <token>` header gets.
      const authorization = typeof token === "string" ? `Bearer ${token}` : undefined;
      caller = await authenticateRequest((name) => (name === "authorization" ? authorization : undefined), services.config.tokens, services.jwt);
      requireScope(caller, scope);
      result = { ok: true, value: await run(services, caller) };
    } catch (err) {
      result = { ok: false, error: toRpcError(err) };
      if (result.error.status >= 500 && !(err instanceof ServiceError) && result.error.code === "internal_error") {
        // The log gets the error's name and message, never request data.
        console.error(JSON.stringify({ level: "error", error: (err as Error)?.name, message: (err as Error)?.message }));
      }
    }
    try {
      const status = result.ok ? statusOf(method, result.value) : result.error.status;
      this.write(
        JSON.stringify({
          level: status >= 500 ? "error" : "info",
          event: "rpc",
          method,
          status,
          context: caller?.context,
          auth: caller?.via,
          code: result.ok ? undefined : result.error.code,
          duration_ms: Math.round((performance.now() - start) * 1000) / 1000,
        }),
      );
    } catch {
      // Observability never changes an answer.
    }
    return result;
  }
}
