import { Hono } from "hono";
import type { AppEnv } from "../http/context.js";
import { apiRoutes } from "../http/route.js";

export const health = new Hono<AppEnv>();

/** Liveness, without auth: load balancers and `npm start` probe it. */
apiRoutes.define(
  health,
  {
    method: "get",
    path: "/healthz",
    summary: "Liveness. No token needed.",
    responses: { 200: { description: "the worker runs", schema: { type: "object", properties: { status: { const: "ok" } } } } },
  },
  (c) => c.json({ status: "ok" }),
);
