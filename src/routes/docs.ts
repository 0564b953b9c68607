/**
 * GET /openapi.json: the API contract, generated from the app's route
 * declarations. GET /docs: the same, as a page that renders offline.
 */
import { openApiDocument } from "../docs/openapi.js";
import { renderDocsPage } from "../docs/page.js";
import { route, type RouteTable } from "../http/route.js";
import { typed } from "../http/schema.js";

/** The document routes of an app, over its route table (read on first use: every route is mounted by then). */
export function docsRoutes(table: RouteTable) {
  let documentJson: string | undefined;
  let documentHtml: string | undefined;
  const document = () => openApiDocument(table.routes);
  return [
    route(
      {
        method: "get",
        path: "/openapi.json",
        summary: "This API's contract, as OpenAPI 3.1, generated from the schemas that validate requests.",
        responses: { 200: { description: "the OpenAPI document", schema: typed<string>({ type: "object" }), contentType: "application/json" } },
      },
      (c) => {
        documentJson ??= JSON.stringify(document());
        return c.body(documentJson, 200, { "content-type": "application/json", "cache-control": "public, max-age=300" });
      },
    ),
    route(
      {
        method: "get",
        path: "/docs",
        summary: "A human-readable reference of this API, with no external assets.",
        responses: { 200: { description: "an HTML page", schema: typed<string>({ type: "string" }), contentType: "text/html" } },
      },
      (c) => {
        documentHtml ??= renderDocsPage(document());
        return c.body(documentHtml, 200, {
          "content-type": "text/html; charset=utf-8",
          "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          "cache-control": "public, max-age=300",
        });
      },
    ),
  ];
}
