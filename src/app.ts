/**
 * Builds the Hono app: settings and auth middleware, one sub-app per
 * resource, and one error mapping for everything thrown.
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { JwksFetch } from "./auth/jwt.js";
import { authenticateRequest } from "./http/auth.js";
import { cors } from "./http/cors.js";
import type { AppEnv } from "./http/context.js";
import { errorResponse } from "./http/errors.js";
import { ServiceError } from "./errors.js";
import { requestLog } from "./observability/log.js";
import { ServiceMetrics } from "./observability/metrics.js";
import { RouteTable } from "./http/route.js";
import { docsRoutes } from "./routes/docs.js";
import { healthRoutes } from "./routes/health.js";
import { keyRoutes } from "./routes/keys.js";
import { metricsRoutes } from "./routes/metrics.js";
import { sessionRoutes } from "./routes/sessions.js";
import { statusRoutes } from "./routes/status.js";
import { ticketRoutes } from "./routes/tickets.js";
import type { Env } from "./env.js";
import { regionOfRequest, type Region } from "./replay/regions.js";
import { servicesFactory, systemClock, type Clock, type Services } from "./services.js";

export interface AppOptions {
  /** Milliseconds since the epoch; tests inject a clock they control. */
  clock?: Clock;
  /** Name of the ring's Durable Object; tests use their own to start from an empty ring. */
  ringName?: string;
  /** Where the request log's JSON lines go (console.log by default); tests may collect or drop them. */
  writeLog?: (line: string) => void;
  /** Fetch for the remote JWKS of JWT_ISSUERS (globalThis.fetch by default); tests serve key sets without network and count fetches. */
  jwksFetch?: JwksFetch;
  /** The location's cache for the ring's read tier (caches.default by default); the fleet simulator gives each location its own. */
  ringCache?: () => Cache | Promise<Cache | undefined> | undefined;
  /** The isolate's replay-guard region, when known up front (the fleet simulator, tests); otherwise learnt from requests' `cf`. */
  region?: Region;
  /** The isolate's services, when something beside the app shares them (the worker's RPC entrypoint); built from the options above otherwise. */
  servicesFor?: (env: Env) => Services;
}

/** The Hono app, and the table of its routes (what its API document lists). */
export type App = Hono<AppEnv> & { readonly routeTable: RouteTable };

export function createApp(options: AppOptions = {}): App {
  const clock = options.clock ?? systemClock;
  const servicesFor = options.servicesFor ?? servicesFactory({ clock, ringName: options.ringName, jwksFetch: options.jwksFetch, ringCache: options.ringCache, region: options.region });
  const app = new Hono<AppEnv>();
  // Per app, so per isolate in production (and per simulated location in tests).
  const metrics = new ServiceMetrics();
  const routes = new RouteTable();

  // First, so that it sees every answer, errors included (it reads c.error).
  app.use("*", requestLog({ metrics, clock, write: options.writeLog }));
  // Before the routes and the auth middleware: a preflight carries no token, and errors need the headers too.
  app.use("*", cors(routes));
  routes.mount(app, [...healthRoutes, ...statusRoutes, ...docsRoutes(routes)]);

  const authenticated: MiddlewareHandler<AppEnv> = async (c, next) => {
    const services = servicesFor(c.env);
    // An isolate stays in one data center: its region, once a request says.
    services.region ??= regionOfRequest(c.req.raw.cf as { latitude?: unknown; longitude?: unknown } | undefined);
    c.set("services", services);
    c.set("caller", await authenticateRequest((name) => c.req.header(name), services.config.tokens, services.jwt));
    await next();
    // Answers carry sessions and key state: never cache them anywhere.
    c.header("cache-control", "no-store");
  };
  app.use("/v1/*", authenticated);
  app.use("/metrics", authenticated);

  routes.mount(app, [...ticketRoutes, ...keyRoutes, ...sessionRoutes, ...metricsRoutes(metrics)]);

  app.notFound((c) => {
    // A path the API has, with a method it does not take: 405 and Allow.
    const allowed = routes.allowedMethods(c.req.path);
    const err = allowed.length
      ? new ServiceError("method_not_allowed", `this route takes ${allowed.join(", ")}`, { headers: { allow: allowed.join(", ") } })
      : new ServiceError("not_found", "no such route");
    // The request log reads the code from c.error, as for thrown errors.
    c.error = err;
    return errorResponse(err);
  });
  app.onError((err) => {
    const response = errorResponse(err);
    if (response.status >= 500 && !(err instanceof ServiceError)) {
      // The log gets the error's name and message, never request data.
      console.error(JSON.stringify({ level: "error", error: err.name, message: err.message }));
    }
    return response;
  });
  return Object.assign(app, { routeTable: routes });
}
