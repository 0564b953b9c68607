/**
 * GET /: the operator's status page. The page needs no token (it holds no
 * data); what it shows comes from the authenticated routes it calls with the
 * token the operator enters.
 */
import { route } from "../http/route.js";
import { typed } from "../http/schema.js";
import { STATUS_PAGE_HTML, statusPageCsp } from "../status/page.js";

export const statusRoutes = [
  route(
    {
      method: "get",
      path: "/",
      summary: "The status page: the key ring as a timeline, ticket and session counters. Asks for a token in the page; keeps it in sessionStorage only.",
      responses: { 200: { description: "a self-contained HTML page", schema: typed<string>({ type: "string" }), contentType: "text/html" } },
    },
    async (c) =>
      c.body(STATUS_PAGE_HTML, 200, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": await statusPageCsp(),
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "x-frame-options": "DENY",
      }),
  ),
];
