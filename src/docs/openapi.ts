/**
 * The OpenAPI 3.1 document, generated from the route registry (the same
 * schemas that validate requests) and the error table. Nothing here is
 * written by hand per route.
 */
import { ERROR_MEANINGS, type ErrorCode } from "../errors.js";
import { statusOf } from "../http/errors.js";
import type { RegisteredRoute } from "../http/route.js";
import type { JsonSchema } from "../http/schema.js";

export interface ParameterDoc {
  name: string;
  in: "path" | "query";
  required: boolean;
  schema: JsonSchema;
}

export interface ResponseDoc {
  description: string;
  content?: Record<string, { schema: JsonSchema; "x-error-codes"?: readonly ErrorCode[] }>;
}

export interface OperationDoc {
  operationId: string;
  summary: string;
  description?: string;
  security: Record<string, never[]>[];
  "x-scopes"?: string[];
  parameters?: ParameterDoc[];
  requestBody?: { required: boolean; content: { "application/json": { schema: JsonSchema } } };
  responses: Record<string, ResponseDoc>;
}

export interface OpenApiDocument {
  openapi: "3.1.0";
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, OperationDoc>>;
  components: Record<string, unknown>;
}

export const API_VERSION = "1.0.0";

/** Hono's :param (and :param{pattern}) to OpenAPI's {param}. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z_]+)(\{[^}]*\})?/g, "{$1}");
}

const ERROR_SCHEMA: JsonSchema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: {
        code: { type: "string", enum: Object.keys(ERROR_MEANINGS) },
        message: { type: "string" },
        field: { type: "string", description: "the request field at fault, when one can be named" },
        details: { type: "object", description: "figures the caller may act on (e.g. ticket-age skew)" },
      },
    },
  },
};

function errorResponses(codes: readonly ErrorCode[]): Record<string, ResponseDoc> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = statusOf(code);
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const out: Record<string, ResponseDoc> = {};
  for (const [status, list] of [...byStatus].sort((a, b) => a[0] - b[0])) {
    out[String(status)] = {
      description: list.map((c) => `\`${c}\`: ${ERROR_MEANINGS[c]}`).join("; "),
      content: { "application/json": { schema: { $ref: "#/components/schemas/Error" }, "x-error-codes": list } },
    };
  }
  return out;
}

function operation(route: RegisteredRoute): OperationDoc {
  const scopes = route.scope === undefined ? [] : typeof route.scope === "string" ? [route.scope] : [...route.scope];
  const op: OperationDoc = {
    operationId: `${route.method}${route.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, ch: string | undefined) => (ch ? ch.toUpperCase() : ""))}`,
    summary: route.summary,
    ...(route.description && { description: route.description }),
    // Any one of the schemes (alternatives): an API token, or a JWT of a JWT_ISSUERS issuer.
    security: scopes.length ? [{ bearer: [] }, { jwt: [] }, { cfAccess: [] }] : [],
    ...(scopes.length && { "x-scopes": scopes }),
    responses: {},
  };
  const parameters: ParameterDoc[] = Object.entries(route.params?.jsonSchema().properties ?? {}).map(([name, schema]) => ({ name, in: "path", required: true, schema }));
  const query = route.query?.jsonSchema();
  for (const [name, schema] of Object.entries(query?.properties ?? {})) {
    parameters.push({ name, in: "query", required: query?.required?.includes(name) ?? false, schema });
  }
  if (parameters.length) op.parameters = parameters;
  if (route.body) {
    op.requestBody = { required: !route.bodyOptional, content: { "application/json": { schema: route.body.jsonSchema() } } };
  }
  const responses: Record<string, ResponseDoc> = {};
  for (const [status, r] of Object.entries(route.responses)) {
    responses[status] = {
      description: r.description,
      ...(r.schema && { content: { [r.contentType ?? "application/json"]: { schema: r.schema.jsonSchema() } } }),
    };
  }
  op.responses = { ...responses, ...errorResponses(route.allErrors) };
  return op;
}

export function openApiDocument(routes: readonly RegisteredRoute[]): OpenApiDocument {
  const paths: OpenApiDocument["paths"] = {};
  for (const route of routes) {
    const path = openApiPath(route.path);
    paths[path] ??= {};
    paths[path][route.method] = operation(route);
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Edge session resumption",
      version: API_VERSION,
      description:
        "Seals and opens TLS session tickets on a fleet-wide rotating key ring, and stores sessions by id (OpenSSL's external session cache). JSON in and out; binary fields base64url without padding; session ids lowercase hex. Each token acts in one context with a set of scopes.",
    },
    paths,
    components: {
      securitySchemes: {
        bearer: { type: "http", scheme: "bearer", description: "A token from API_TOKENS; its scopes are listed per operation as x-scopes." },
        jwt: {
          type: "http",
          scheme: "bearer",
          bearerFormat: "JWT",
          description:
            "A signed JWT (compact JWS) of an issuer in JWT_ISSUERS that listens on Authorization; the issuer's grants map its claims to a context and scopes. Refusals are 401 token_* codes, 403 token_not_granted, 503 jwks_unavailable.",
        },
        cfAccess: {
          type: "apiKey",
          in: "header",
          name: "Cf-Access-Jwt-Assertion",
          description:
            "The application token Cloudflare Access adds in front of the service (JWT_ISSUERS preset cloudflare-access); used only when the request has no Authorization header.",
        },
      },
      schemas: { Error: ERROR_SCHEMA },
    },
  };
}
