/**
 * CORS for the origins in CORS_ORIGINS, so that a page on one of them can use
 * the typed client (src/client) from a browser. Without the setting nothing
 * here adds a header: the service answers as it always has.
 *
 * - A preflight (OPTIONS with Access-Control-Request-Method) from an allowed
 *   origin, for a path the API has, is answered here with 204: the origin
 *   itself (never "*"), the methods that path takes, the request headers
 *   the API reads, and a max age. It needs no token: browsers never send
 *   one with a preflight.
 * - Any other request from an allowed origin gets Access-Control-Allow-Origin
 *   on its answer, errors included (a page must read the error's code), and
 *   the headers the client reads exposed (Retry-After above all).
 * - A request from any other origin gets no CORS header, so the browser
 *   keeps its answer from the page; a preflight from it falls through to
 *   the routes, which do not take OPTIONS.
 * - Never Access-Control-Allow-Credentials: tokens travel in Authorization,
 *   which a page sets itself; cookies are not read by the service, and a
 *   credentialed request from another origin would be refused by the browser.
 *
 * Whenever CORS_ORIGINS is set, every answer carries Vary: Origin, since it
 * depends on the Origin header (for any cache between browser and service).
 */
import type { MiddlewareHandler } from "hono";
import { loadConfig } from "../config.js";
import type { AppEnv } from "./context.js";
import type { RouteTable } from "./route.js";

/** The request headers the API reads: the bearer token and the JSON body's type. */
export const CORS_ALLOW_HEADERS = "authorization, content-type";
/** Response headers beyond the CORS-safelisted ones that the client reads or a page may want. */
export const CORS_EXPOSE_HEADERS = "retry-after, www-authenticate, allow";
/** Seconds a browser may reuse a preflight (Chromium caps it at 7200, Firefox at 86400). */
export const CORS_MAX_AGE = 7200;

/** CORS for an app's routes (`table`: what each path takes, for a preflight's answer). */
export function cors(table: RouteTable): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    let origins: ReadonlySet<string>;
    try {
      origins = loadConfig(c.env).corsOrigins;
    } catch {
      // Invalid settings: the routes that need them answer config_invalid; CORS adds nothing.
      return next();
    }
    if (origins.size === 0) return next();
    const origin = c.req.header("origin");
    const allowed = origin !== undefined && origins.has(origin);

    if (allowed && c.req.method === "OPTIONS" && c.req.header("access-control-request-method") !== undefined) {
      const methods = table.allowedMethods(c.req.path);
      if (methods.length > 0) {
        return c.body(null, 204, {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": methods.join(", "),
          "access-control-allow-headers": CORS_ALLOW_HEADERS,
          "access-control-max-age": String(CORS_MAX_AGE),
          vary: "Origin",
        });
      }
    }

    await next();
    let headers = c.res.headers;
    try {
      headers.append("vary", "Origin");
    } catch {
      // Immutable headers (a Response the runtime built): copy the answer once.
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
      headers.append("vary", "Origin");
    }
    if (allowed) {
      headers.set("access-control-allow-origin", origin);
      headers.set("access-control-expose-headers", CORS_EXPOSE_HEADERS);
    }
  };
}
