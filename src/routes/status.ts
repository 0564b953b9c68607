/**
 * GET /: the operator's status page. The page needs no token (it holds no
 * data); what it shows comes from the authenticated routes it calls with the
 * token the operator enters.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/context.js";
import { STATUS_PAGE_HTML, statusPageCsp } from "../status/page.js";

export const status = new Hono<AppEnv>().get("/", async (c) =>
  c.body(STATUS_PAGE_HTML, 200, {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": await statusPageCsp(),
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  }),
);
