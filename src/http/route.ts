/**
 * One declaration per route: its method, path, scope, the schemas of its
 * path parameters, query and body, its answers with theirs, and its error
 * codes. `route()` pairs a declaration with its handler; `RouteTable.mount`
 * registers it on an app and keeps it for that app's API document, so the
 * document is generated from the very schemas that validate requests, and a
 * handler's answer is type-checked against the schema that documents it.
 *
 * Everything a request brings is judged at the route's edge, in order: the
 * scope, the path parameters, the query, the body. A handler starts with an
 * authorised caller and typed { params, query, body }.
 */
import type { Hono } from "hono";
import type { Scope } from "../auth/caller.js";
import type { ErrorCode } from "../errors.js";
import { requireScope } from "./auth.js";
import { readJsonObject, readOptionalJsonObject } from "./body.js";
import type { AppContext, AppEnv } from "./context.js";
import type { Infer, Schema } from "./schema.js";

export type Method = "get" | "post" | "put" | "delete" | "head";

/** One successful answer: what it means, the schema of its JSON body (none: an empty body), or a content type other than JSON. */
export interface Reply<S extends Schema<unknown> | undefined = Schema<unknown> | undefined> {
  description: string;
  schema?: S;
  /** Not JSON (HTML, Prometheus text): the handler answers with a Response of this type. */
  contentType?: string;
}

export type Replies = Record<number, Reply>;

/**
 * What a handler answers: one of its declared statuses with a body of that
 * answer's schema (none for an answer without one); a Response only where a
 * declared answer is not JSON.
 */
export type Answer<R extends Replies> =
  | { [S in keyof R & number]: R[S] extends { contentType: string } ? never : R[S]["schema"] extends Schema<unknown> ? { status: S; body: Infer<R[S]["schema"]> } : { status: S } }[keyof R & number]
  | ({ [S in keyof R]: R[S] extends { contentType: string } ? true : never }[keyof R] extends never ? never : Response);

export interface RouteSpec<P, Q, B, R extends Replies> {
  method: Method;
  /** Hono path syntax: /v1/sessions/:id */
  path: string;
  summary: string;
  description?: string;
  /** Who may call it; absent for public routes (no token needed). */
  scope?: Scope | readonly Scope[];
  /** The path parameters, as an object schema (its fields' errors are the route's own, e.g. invalid_session_id). */
  params?: Schema<P>;
  query?: Schema<Q>;
  /** The JSON body; `bodyOptional` lets a route take no body at all as {}. */
  body?: Schema<B>;
  bodyOptional?: boolean;
  responses: R;
  /** Error codes this route itself can answer (auth and body errors are added from scope and body). */
  errors?: readonly ErrorCode[];
  /**
   * A GET route's answer to HEAD (Hono runs GET routes for HEAD): the same
   * checks, without the body's work; resolves for 200, throws the error GET
   * would answer. Without it, HEAD runs the handler and drops the body.
   */
  head?: (c: AppContext, input: { params: P; query: Q }) => Promise<void>;
}

export type Handler<P, Q, B, R extends Replies> = (c: AppContext, input: { params: P; query: Q; body: B }) => Answer<R> | Promise<Answer<R>>;

/** A declaration and its handler, not yet on any app. */
export interface RouteDef {
  spec: RouteSpec<unknown, unknown, unknown, Replies>;
  /* The handler, with its input and answer types erased: route() checked them. */
  handler: Handler<unknown, unknown, unknown, Replies>;
}

/** Pairs a declaration with its handler; the types flow from the schemas to the handler's input and answer. */
export function route<P = undefined, Q = undefined, B = undefined, R extends Replies = Replies>(spec: RouteSpec<P, Q, B, R>, handler: NoInfer<Handler<P, Q, B, R>>): RouteDef {
  return { spec, handler } as unknown as RouteDef;
}

export interface RegisteredRoute extends RouteSpec<unknown, unknown, unknown, Replies> {
  /** Every error code the route can answer, its own and those implied by scope and body. */
  allErrors: ErrorCode[];
}

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
function impliedErrors(spec: RegisteredRoute | RouteDef["spec"]): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (spec.scope) codes.push("unauthorized", "forbidden", ...JWT_AUTH_ERRORS);
  if (spec.body) codes.push("invalid_json", "invalid_request", "body_too_large", "unsupported_media_type");
  if (spec.query && !codes.includes("invalid_request")) codes.push("invalid_request");
  return codes;
}

/** One app's routes: what it serves, and what its API document lists. */
export class RouteTable {
  readonly routes: RegisteredRoute[] = [];

  /** Registers each route on `app`, and records it. */
  mount(app: Hono<AppEnv>, defs: readonly RouteDef[]): void {
    for (const { spec, handler } of defs) {
      this.routes.push({ ...spec, allErrors: [...new Set([...impliedErrors(spec), ...(spec.errors ?? [])])] });
      app.on(spec.method.toUpperCase(), spec.path, async (c) => {
        if (spec.scope) requireScope(c.var.caller, spec.scope);
        const params = spec.params ? spec.params.parse(c.req.param(), "") : undefined;
        const query = spec.query ? spec.query.parse(c.req.query(), "") : undefined;
        if (c.req.method === "HEAD" && spec.head) {
          await spec.head(c, { params, query });
          return c.body(null, 200);
        }
        const body = spec.body ? spec.body.parse(await (spec.bodyOptional ? readOptionalJsonObject(c.req.raw) : readJsonObject(c.req.raw)), "") : undefined;
        const answer = await handler(c, { params, query, body });
        if (answer instanceof Response) return answer;
        const { status } = answer as { status: number; body?: unknown };
        return "body" in answer ? c.json(answer.body as object, status as 200) : c.body(null, status as 204);
      });
    }
  }

  /** The methods a path takes, as an Allow list (HEAD with GET); empty for a path the app does not have. */
  allowedMethods(path: string): string[] {
    const methods = this.routes.filter((r) => pathPattern(r.path).test(path)).map((r) => r.method.toUpperCase());
    if (methods.includes("GET") && !methods.includes("HEAD")) methods.push("HEAD");
    return methods;
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
