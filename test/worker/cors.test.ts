/**
 * CORS_ORIGINS (src/http/cors.ts, parsed in src/config.ts): preflights and
 * answers for allowed origins, nothing for others, nothing at all without
 * the setting. The browser's side of it (a real page calling the worker
 * with the typed client) is test/browser/cors.test.ts.
 */
import { describe, expect, it } from "vitest";
import { parseCorsOrigins } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { CORS_MAX_AGE } from "../../src/http/cors.js";
import { TLS12_SESSION, location } from "./harness.js";

const APP = "https://app.example.com";
const DEV = "http://127.0.0.1:5173";
const CORS_ORIGINS = JSON.stringify([APP, DEV]);

/** Every Access-Control-* header of an answer. */
function corsHeaders(res: Response): Record<string, string> {
  const found: Record<string, string> = {};
  res.headers.forEach((value, name) => {
    if (name.startsWith("access-control-")) found[name] = value;
  });
  return found;
}

function preflight(origin: string, method: string, headers = "authorization, content-type") {
  return { origin, "access-control-request-method": method, "access-control-request-headers": headers };
}

describe("CORS_ORIGINS", () => {
  it("answers a preflight from an allowed origin with that origin, the route's methods and headers, Vary and a max age", async () => {
    const loc = location(undefined, { env: { CORS_ORIGINS } });
    const res = await loc.call("OPTIONS", "/v1/tickets", { headers: preflight(APP, "POST") });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(corsHeaders(res)).toEqual({
      "access-control-allow-origin": APP,
      "access-control-allow-methods": "POST",
      "access-control-allow-headers": "authorization, content-type",
      "access-control-max-age": String(CORS_MAX_AGE),
    });
    expect(res.headers.get("vary")).toBe("Origin");
    // Never credentials: the token is in Authorization, which the page sets itself.
    expect(res.headers.has("access-control-allow-credentials")).toBe(false);

    // Each path lists what it takes (HEAD with GET); the second origin works the same.
    const session = await loc.call("OPTIONS", `/v1/sessions/${"ab".repeat(16)}`, { headers: preflight(DEV, "GET") });
    expect(session.status).toBe(204);
    expect(session.headers.get("access-control-allow-origin")).toBe(DEV);
    expect(session.headers.get("access-control-allow-methods")!.split(", ").sort()).toEqual(["DELETE", "GET", "HEAD", "PUT"]);
    const health = await loc.call("OPTIONS", "/healthz", { headers: preflight(APP, "GET", "") });
    expect(health.headers.get("access-control-allow-methods")).toBe("GET, HEAD");
  });

  it("needs no token for a preflight (browsers never send one), but the request itself still does", async () => {
    const loc = location(undefined, { env: { CORS_ORIGINS } });
    const pre = await loc.call("OPTIONS", "/v1/keys", { headers: preflight(APP, "GET") });
    expect(pre.status).toBe(204);
    const res = await loc.call("GET", "/v1/keys", { headers: { origin: APP } });
    expect([res.status, ((await res.json()) as any).error.code]).toEqual([401, "unauthorized"]);
    // The error is readable by the page: it carries the CORS headers too.
    expect(res.headers.get("access-control-allow-origin")).toBe(APP);
    expect(res.headers.get("access-control-expose-headers")).toContain("www-authenticate");
  });

  it("puts the origin on every answer to an allowed origin, errors included, and exposes Retry-After", async () => {
    const loc = location(undefined, { env: { CORS_ORIGINS } });
    const sealed = await loc.call("POST", "/v1/tickets", { token: "alpha-tickets", headers: { origin: APP }, body: { session: TLS12_SESSION } });
    expect(sealed.status).toBe(201);
    expect(corsHeaders(sealed)).toEqual({ "access-control-allow-origin": APP, "access-control-expose-headers": "retry-after, www-authenticate, allow" });
    expect(sealed.headers.get("vary")).toBe("Origin");
    expect(sealed.headers.get("cache-control")).toBe("no-store");

    const refused = await loc.call("POST", "/v1/tickets/open", { token: "alpha-tickets", headers: { origin: APP }, body: { ticket: "AQAAAAA" } });
    expect(refused.status).toBe(422);
    expect(refused.headers.get("access-control-allow-origin")).toBe(APP);
    const missing = await loc.call("GET", "/nowhere", { headers: { origin: APP } });
    expect([missing.status, missing.headers.get("access-control-allow-origin")]).toEqual([404, APP]);
  });

  it("gives any other origin no CORS header at all, so the browser keeps the answer from the page", async () => {
    const loc = location(undefined, { env: { CORS_ORIGINS } });
    for (const origin of ["https://evil.example", "https://app.example.com:8443", "http://app.example.com", "HTTPS://APP.EXAMPLE.COM", "null", `${APP}/`]) {
      const pre = await loc.call("OPTIONS", "/v1/tickets", { headers: preflight(origin, "POST") });
      // What the service answered before CORS existed: /v1 wants a token first.
      expect([pre.status, corsHeaders(pre)], origin).toEqual([401, {}]);
      const res = await loc.call("POST", "/v1/tickets", { token: "alpha-tickets", headers: { origin }, body: { session: TLS12_SESSION } });
      expect([res.status, corsHeaders(res)], origin).toEqual([201, {}]);
      // The answer still depends on Origin, for caches.
      expect(res.headers.get("vary")).toBe("Origin");
    }
    // No Origin header (curl, a terminator): no CORS headers either.
    const plain = await loc.call("GET", "/healthz");
    expect(corsHeaders(plain)).toEqual({});
  });

  it("answers no preflight for a path the API does not have, nor an OPTIONS that is no preflight", async () => {
    const loc = location(undefined, { env: { CORS_ORIGINS } });
    const unknown = await loc.call("OPTIONS", "/v2/tickets", { headers: preflight(APP, "POST") });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.has("access-control-allow-methods")).toBe(false);
    const bare = await loc.call("OPTIONS", "/healthz", { headers: { origin: APP } });
    expect(bare.status).toBe(405);
    expect(bare.headers.has("access-control-allow-methods")).toBe(false);
  });

  it("adds nothing without the setting: no CORS headers and no Vary, as before", async () => {
    for (const env of [{}, { CORS_ORIGINS: "" }, { CORS_ORIGINS: "[]" }]) {
      const loc = location(undefined, { env });
      const pre = await loc.call("OPTIONS", "/v1/tickets", { headers: preflight(APP, "POST") });
      expect([pre.status, corsHeaders(pre)]).toEqual([401, {}]);
      const res = await loc.call("POST", "/v1/tickets", { token: "alpha-tickets", headers: { origin: APP }, body: { session: TLS12_SESSION } });
      expect([res.status, corsHeaders(res), res.headers.get("vary")]).toEqual([201, {}, null]);
    }
  });

  it("a wrong CORS_ORIGINS is config_invalid for the API, naming the entry", async () => {
    const loc = location(undefined, { env: { CORS_ORIGINS: '["*"]' } });
    const res = await loc.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } });
    expect([res.status, res.body.error.code]).toEqual([503, "config_invalid"]);
    expect(res.body.error.message).toContain("CORS_ORIGINS[0]");
  });
});

describe("parseCorsOrigins", () => {
  const failure = (raw: string) => {
    try {
      parseCorsOrigins(raw);
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as ConfigError).message;
    }
    throw new Error(`${raw} was accepted`);
  };

  it("takes exact origins, as browsers send them", () => {
    expect([...parseCorsOrigins(JSON.stringify([APP, "https://app.example.com:8443", "http://localhost:3000", "http://[::1]:8080"]))]).toEqual([
      APP,
      "https://app.example.com:8443",
      "http://localhost:3000",
      "http://[::1]:8080",
    ]);
    expect(parseCorsOrigins(undefined).size).toBe(0);
  });

  it("refuses wildcards, paths, a trailing slash, uppercase, default ports, plain http elsewhere, duplicates", () => {
    expect(failure("not json")).toMatch(/^CORS_ORIGINS: is not valid JSON/);
    expect(failure('{"origin": "x"}')).toMatch(/^CORS_ORIGINS: must be a JSON array/);
    expect(failure('["*"]')).toMatch(/^CORS_ORIGINS\[0\]: "\*" is not allowed/);
    expect(failure('["null"]')).toMatch(/^CORS_ORIGINS\[0\]: "null" is not allowed/);
    expect(failure(`["${APP}", "${APP}/"]`)).toMatch(/^CORS_ORIGINS\[1\]: must be an exact origin.*\("https:\/\/app.example.com"\?\)/);
    expect(failure(`["${APP}/app"]`)).toMatch(/^CORS_ORIGINS\[0\]: must be an exact origin/);
    expect(failure('["https://App.Example.com"]')).toMatch(/exact origin/);
    expect(failure('["https://app.example.com:443"]')).toMatch(/exact origin/);
    expect(failure('["app.example.com"]')).toMatch(/exact origin/);
    expect(failure("[42]")).toMatch(/^CORS_ORIGINS\[0\]: must be a string/);
    expect(failure('["http://app.example.com"]')).toMatch(/must be https/);
    expect(failure(`["${APP}", "${APP}"]`)).toMatch(/^CORS_ORIGINS\[1\]: is listed twice/);
    expect(failure(JSON.stringify(Array.from({ length: 65 }, (_, i) => `https://a${i}.example.com`)))).toMatch(/at most 64/);
  });
});
