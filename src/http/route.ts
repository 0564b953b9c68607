/**
 * One declaration per route: its method, path, scope, body schema, answers
 * and error codes. `defineRoute` registers the Hono handler and records the
 * same declaration for the OpenAPI document, so the document is generated
 * from the very schemas that validate requests and cannot drift from them.
 * The scope check and body parsing happen here, at the route's edge, so a
 * handler starts with an authorised caller and a typed body.
 */
import type { Hono } from "hono";
import type { Scope } from "../auth/caller.js";
import { requireScope } from "./auth.js";
import { readJsonObject, readOptionalJsonObject } from "./body.js";
import type { AppContext, AppEnv } from "./context.js";
import type { ErrorCode } from "../errors.js";
import type { JsonSchema, Schema } from "./schema.js";

export type Method = "get" | "post" | "put" | "delete" | "head";

export interface RouteSpec<B = undefined, Q = undefined> {
  method: Method;
  /** Hono path syntax: /v1/sessions/:id */
  path: string;
  summary: string;
  description?: string;
  /** Who may call it; absent for public routes (no token needed). */
  scope?: Scope | readonly Scope[];
  /** The JSON body; `bodyOptional` lets a route take no body at all as {}. */
  body?: Schema<B>;
  bodyOptional?: boolean;
  query?: Schema<Q>;
  /** Path parameters and their schemas. */
  params?: Record<string, JsonSchema>;
  /** Successful answers: status -> description and body schema. */
  responses: Record<number, { description: string; schema?: JsonSchema; contentType?: string }>;
  /** Error codes this route itself can answer (auth and body errors are added from scope and body). */
  errors?: readonly ErrorCode[];
}

export interface RegisteredRoute extends RouteSpec<unknown, unknown> {
  /** Every error code the route can answer, its own and those implied by scope and body. */
  allErrors: ErrorCode[];
}

export type Handler<B, Q> = (c: AppContext, input: { body: B; query: Q }) => Response | Promise<Response>;

/** What a JWT caller can be refused with (JWT_ISSUERS, src/auth/jwt.ts), besides unauthorized and forbidden. */
export const JWT_AUTH_ERRORS: readonly ErrorCode[] = [
  "token_malformed",
  "token_issuer_unknown",
  "token_algorithm_refused",
  "token_key_unknown",
  "token_signature_invalid",
  "token_expired",
  "token_not_yet_valid",
  "token_audience_invalid",
  "token_claims_invalid",
  "token_type_invalid",
  "token_replayed",
  "token_not_granted",
  "jwks_unavailable",
  "replay_guard_unavailable",
];

/** Errors every route with that property can answer. */
function impliedErrors(spec: RouteSpec<unknown, unknown>): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (spec.scope) codes.push("unauthorized", "forbidden", ...JWT_AUTH_ERRORS);
  if (spec.body) codes.push("invalid_json", "invalid_request", "body_too_large", "unsupported_media_type");
  if (spec.query && !codes.includes("invalid_request")) codes.push("invalid_request");
  return codes;
}

export class RouteRegistry {
  readonly routes: RegisteredRoute[] = [];

  /** Registers `spec` on `app` with `handler`, and records it for the API document. */
  define<B = undefined, Q = undefined>(app: Hono<AppEnv>, spec: RouteSpec<B, Q>, handler: Handler<B, Q>): void {
    const general = spec as RouteSpec<unknown, unknown>;
    const entry = { ...general, allErrors: [...new Set([...impliedErrors(general), ...(spec.errors ?? [])])] };
    // A route built per app (e.g. around per-app metrics) is declared once.
    const at = this.routes.findIndex((r) => r.method === spec.method && r.path === spec.path);
    if (at >= 0) this.routes[at] = entry;
    else this.routes.push(entry);
    app.on(spec.method.toUpperCase(), spec.path, async (c) => {
      if (spec.scope) requireScope(c.var.caller, spec.scope);
      const body = spec.body
        ? spec.body.parse(await (spec.bodyOptional ? readOptionalJsonObject(c.req.raw) : readJsonObject(c.req.raw)), "")
        : (undefined as B);
      const query = spec.query ? spec.query.parse(c.req.query(), "") : (undefined as Q);
      return handler(c, { body, query });
    });
  }
}

/** Hono path pattern to a RegExp: ":id" one segment, ":peer{.+}" its own pattern. */
function pathPattern(path: string): RegExp {
  const source = path
    .split(/(:[A-Za-z_]+(?:\{[^}]+\})?)/)
    .map((part) => {
      const param = /^:[A-Za-z_]+(?:\{([^}]+)\})?$/.exec(part);
      if (param) return param[1] ? `(?:${param[1]})` : "[^/]+";
      return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    })
    .join("");
  return new RegExp(`^${source}$`);
}

export function methodsFor(routes: readonly RegisteredRoute[], path: string): Method[] {
  return routes.filter((r) => pathPattern(r.path).test(path)).map((r) => r.method);
}

/** The service's routes. Route modules register into it at import; the API document reads it. */
export const apiRoutes = new RouteRegistry();
