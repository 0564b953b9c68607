import { Hono } from "hono";
import type { AppEnv } from "../http/context.js";

/** Liveness, without auth: load balancers and `npm start` probe it. */
export const health = new Hono<AppEnv>().get("/healthz", (c) => c.json({ status: "ok" }));
