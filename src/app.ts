/**
 * Builds the Hono app: settings and auth middleware, one sub-app per
 * resource, and one error mapping for everything thrown.
 */
import { Hono } from "hono";
import { authenticate } from "./http/auth.js";
import type { AppEnv } from "./http/context.js";
import { errorResponse, ServiceError } from "./http/errors.js";
import { health } from "./routes/health.js";
import { keys } from "./routes/keys.js";
import { tickets } from "./routes/tickets.js";
import { servicesFactory, systemClock, type Clock } from "./services.js";

export interface AppOptions {
  /** Milliseconds since the epoch; tests inject a clock they control. */
  clock?: Clock;
  /** Name of the ring's Durable Object; tests use their own to start from an empty ring. */
  ringName?: string;
}

export function createApp(options: AppOptions = {}) {
  const servicesFor = servicesFactory(options.clock ?? systemClock, options.ringName);
  const app = new Hono<AppEnv>();

  app.route("/", health);

  app.use("/v1/*", async (c, next) => {
    const services = servicesFor(c.env);
    c.set("services", services);
    c.set("caller", await authenticate(c.req.header("authorization"), services.config.tokens));
    await next();
    // Answers carry sessions and key state: never cache them anywhere.
    c.header("cache-control", "no-store");
  });

  app.route("/", tickets);
  app.route("/", keys);

  app.notFound(() => errorResponse(new ServiceError("not_found", "no such route")));
  app.onError((err) => {
    const response = errorResponse(err);
    if (response.status >= 500 && !(err instanceof ServiceError)) {
      // The log gets the error's name and message, never request data.
      console.error(JSON.stringify({ level: "error", error: err.name, message: err.message }));
    }
    return response;
  });
  return app;
}
