/**
 * GET /openapi.json: the API contract, generated from the route
 * declarations. GET /docs: the same, as a page that renders offline.
 */
import { Hono } from "hono";
import { openApiDocument } from "../docs/openapi.js";
import { renderDocsPage } from "../docs/page.js";
import type { AppEnv } from "../http/context.js";
import { apiRoutes } from "../http/route.js";

export const docs = new Hono<AppEnv>();

// Built on first use: every route module has registered by then.
let documentJson: string | undefined;
let documentHtml: string | undefined;
const document = () => openApiDocument(apiRoutes.routes);

apiRoutes.define(
  docs,
  {
    method: "get",
    path: "/openapi.json",
    summary: "This API's contract, as OpenAPI 3.1, generated from the schemas that validate requests.",
    responses: { 200: { description: "the OpenAPI document", schema: { type: "object" } } },
  },
  (c) => {
    documentJson ??= JSON.stringify(document());
    return c.body(documentJson, 200, { "content-type": "application/json", "cache-control": "public, max-age=300" });
  },
);

apiRoutes.define(
  docs,
  {
    method: "get",
    path: "/docs",
    summary: "A human-readable reference of this API, with no external assets.",
    responses: { 200: { description: "an HTML page", schema: { type: "string" }, contentType: "text/html" } },
  },
  (c) => {
    documentHtml ??= renderDocsPage(document());
    return c.body(documentHtml, 200, {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
      "cache-control": "public, max-age=300",
    });
  },
);
