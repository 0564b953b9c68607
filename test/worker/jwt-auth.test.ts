/**
 * JWT callers beside the API_TOKENS bearer tokens (JWT_ISSUERS): ES256,
 * EdDSA and RS256 tokens signed with keys generated for the test, key sets
 * served inline (or by an injected fetch for the remote one), time moved by
 * the injected clock. No network, no sleeping.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app.js";
import type { JwksFetch } from "../../src/auth/jwt.js";
import type { Env } from "../../src/env.js";
import { statusOf } from "../../src/http/errors.js";
import { T0, noNetwork, testRingName } from "./harness.js";
import { ISSUERS, JWT_ISSUERS, KEYS, PII, REMOTE_JWKS_URL, publicJwk, refusals, sign, withHeader } from "./jwt-fixtures.js";

const ID = "ab".repeat(16);

interface Site {
  /** Unix seconds. */
  now: number;
  lines: Record<string, unknown>[];
  call(method: string, path: string, headers?: Record<string, string>, body?: unknown): Promise<{ status: number; body: any; headers: Headers; text: string }>;
}

/** An app with JWT_ISSUERS set (or the given setting), a clock the test moves, and its request log collected. */
function site(options: { issuers?: string; fetch?: JwksFetch; start?: number; env?: Partial<Env> } = {}): Site {
  const s = { now: options.start ?? T0, lines: [] as Record<string, unknown>[] } as Site;
  const app = createApp({
    clock: () => s.now * 1000,
    ringName: testRingName(),
    jwksFetch: options.fetch ?? noNetwork,
    writeLog: (line) => s.lines.push(JSON.parse(line)),
  });
  const bindings = { ...(env as unknown as Env), JWT_ISSUERS: options.issuers ?? JWT_ISSUERS, ...options.env };
  s.call = async (method, path, headers = {}, body) => {
    const init: RequestInit = { method, headers: { ...headers } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      (init.headers as Record<string, string>)["content-type"] = "application/json";
    }
    const res = await app.request(path, init, bindings);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers, text };
  };
  return s;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const access = (token: string) => ({ "cf-access-jwt-assertion": token });
const last = (s: Site) => s.lines[s.lines.length - 1]!;

/** A JWKS fetch serving `keys()` at the remote issuer's URL, counting its calls. */
function jwksServer(keys: () => Promise<object[]> | object[]) {
  const server = {
    fetches: 0,
    urls: [] as string[],
    down: false,
    fetch: (async (url: string) => {
      server.fetches++;
      server.urls.push(url);
      if (server.down) throw new TypeError("connection refused");
      return Response.json({ keys: await keys() });
    }) as JwksFetch,
  };
  return server;
}

describe("JWT callers: issuers, keys and grants", () => {
  it("accepts an ES256 token and maps it by its first matching grant", async () => {
    const s = site();
    const token = await sign({ sub: "edge-fra" });
    const res = await s.call("GET", `/v1/sessions/${ID}`, bearer(token));
    // Authorised with the sessions scope: the store answers (nothing is stored).
    expect(res.body.error.code).toBe("session_not_found");
    expect(last(s)).toMatchObject({ context: "alpha", auth: "jwt:mesh", status: 404 });
    // The grant gave tickets and sessions, not keys.
    const keys = await s.call("GET", "/v1/keys", bearer(token));
    expect([keys.status, keys.body.error.code]).toEqual([403, "forbidden"]);
    // Neither the token nor a claim is logged.
    const log = JSON.stringify(s.lines);
    expect(log).not.toContain(token);
    expect(log).not.toContain(PII);
    expect(log).not.toContain("edge-fra");
  });

  it("accepts an EdDSA token (a list value in `when`: any of)", async () => {
    const s = site();
    const res = await s.call("GET", "/v1/stats", bearer(await sign({ sub: "edge-root" }, { key: "meshEd" })));
    expect([res.status, res.body.context]).toEqual([200, "alpha"]);
  });

  it("accepts an RS256 token of another issuer, whose aud list holds one of its audiences", async () => {
    const s = site();
    const res = await s.call("GET", "/v1/keys", bearer(await sign({ aud: ["somebody", "esr-staging"] }, { key: "rsa" })));
    expect(res.status).toBe(200);
    expect(last(s)).toMatchObject({ context: "beta", auth: "jwt:rsa" });
    const stats = await s.call("GET", "/v1/stats", bearer(await sign({}, { key: "rsa" })));
    expect([stats.status, stats.body.error.code]).toEqual([403, "forbidden"]);
  });

  it("tries grants in order: the first whose conditions hold decides", async () => {
    const s = site();
    // sub edge-fra and group readers: the first grant (tickets, sessions) decides, not the third (keys).
    const both = await s.call("GET", "/v1/keys", bearer(await sign({ sub: "edge-fra", groups: ["readers"] })));
    expect([both.status, both.body.error.code]).toEqual([403, "forbidden"]);
    // An array claim matches when it holds the value.
    const reader = await s.call("GET", "/v1/keys", bearer(await sign({ sub: "someone", groups: ["ops", "readers"] })));
    expect(reader.status).toBe(200);
  });

  it("takes the context and scopes from claims, within what the grant allows", async () => {
    const s = site();
    // scope "tickets keys admin": only tickets is allowed by the grant; context beta from esr_context.
    const token = await sign({ sub: "svc", esr_context: "beta", scope: "tickets keys admin" });
    const sealed = await s.call("POST", "/v1/tickets", bearer(token), { session: { version: "TLSv1.2", cipher_suite: 49195, master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v" } });
    expect(sealed.status).toBe(201);
    expect(last(s)).toMatchObject({ context: "beta", auth: "jwt:mesh" });
    const keys = await s.call("GET", "/v1/keys", bearer(token));
    expect(keys.body.error.code).toBe("forbidden");
    // An array of scopes works as well.
    const sessions = await s.call("GET", `/v1/sessions/${ID}`, bearer(await sign({ sub: "svc", esr_context: "alpha", scope: ["sessions"] })));
    expect(sessions.body.error.code).toBe("session_not_found");
  });

  it("refuses a valid token no grant admits with 403 token_not_granted", async () => {
    const s = site();
    for (const claims of [
      { sub: "svc", esr_context: "sess-off", scope: "tickets" }, // a context, but not an allowed one
      { sub: "svc", esr_context: "nowhere", scope: "tickets" }, // no such context
      { sub: "svc", esr_context: "alpha", scope: "admin keys" }, // no allowed scope
      { sub: "svc", esr_context: "alpha" }, // no scope claim
      { sub: "svc", esr_context: ["alpha"], scope: "tickets" }, // the context claim is not a string
    ]) {
      const res = await s.call("GET", "/v1/keys", bearer(await sign(claims)));
      expect([res.status, res.body.error.code], JSON.stringify(claims)).toEqual([403, "token_not_granted"]);
      expect(res.text).not.toContain(claims.esr_context as string);
    }
  });
});

describe("JWT callers: refusals", async () => {
  const rows = await refusals();

  it.each(rows.map((r) => [r.name, r] as const))("%s", async (_, row) => {
    const s = site({ env: row.env?.() });
    if (row.presentFirst) expect((await s.call("GET", "/v1/keys", row.headers)).status).toBe(200);
    const res = await s.call("GET", "/v1/keys", row.headers);
    expect(res.body.error.code).toBe(row.code);
    expect(res.status).toBe(statusOf(row.code));
    if (res.status === 401) expect(res.headers.get("www-authenticate")).toBe('Bearer realm="resumption", error="invalid_token"');
    if (row.code === "jwks_unavailable") expect(res.headers.get("retry-after")).toBe("5");
    if (row.code === "replay_guard_unavailable") expect(res.headers.get("retry-after")).toBe("1");
    expect(res.text).not.toContain(row.token);
    expect(res.text).not.toContain(PII);
    expect(JSON.stringify(s.lines)).not.toContain(row.token);
    expect(last(s)).toMatchObject({ code: row.code });
    expect(last(s).context).toBeUndefined();
  });

  it("refuses a token issued in the future (iat beyond the tolerance)", async () => {
    const res = await site().call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin" }, { iat: T0 + 60 })));
    expect(res.body.error.code).toBe("token_not_yet_valid");
    const ok = await site().call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin" }, { iat: T0 + 29 })));
    expect(ok.status).toBe(200);
  });

  it("refuses claims of the wrong type", async () => {
    for (const claims of [{ exp: String(T0 + 60) }, { nbf: "soon" }, { iat: "now" }]) {
      const res = await site().call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin", ...claims })));
      expect(res.body.error.code, JSON.stringify(claims)).toBe("token_claims_invalid");
    }
    const noAud = await site().call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin", aud: undefined })));
    expect(noAud.body.error.code).toBe("token_audience_invalid");
    const noIss = await site().call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin", iss: undefined })));
    expect(noIss.body.error.code).toBe("token_issuer_unknown");
  });

  it("refuses a token signed with another issuer's key", async () => {
    const s = site();
    // The rsa issuer's claims, signed by Access's RSA key under its own kid: no such key in the rsa set.
    expect((await s.call("GET", "/v1/keys", bearer(await sign({ iss: ISSUERS.rsa.issuer }, { key: "access" })))).body.error.code).toBe("token_key_unknown");
    // ... and under the rsa key's kid: the key is found, the signature fails.
    expect((await s.call("GET", "/v1/keys", bearer(await sign({ iss: ISSUERS.rsa.issuer }, { key: "access", kid: "rsa-1" })))).body.error.code).toBe(
      "token_signature_invalid",
    );
    // The mesh's claims signed by the remote issuer's ES256 key, claiming the mesh key's kid.
    expect((await s.call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin", iss: ISSUERS.mesh.issuer }, { key: "remote", kid: "mesh-es" })))).body.error.code).toBe(
      "token_signature_invalid",
    );
    // An RS256 token whose header claims ES256.
    const relabelled = withHeader(await sign({ sub: "edge-admin", iss: ISSUERS.mesh.issuer }, { key: "rsa" }), { alg: "ES256", kid: "mesh-es" });
    expect((await s.call("GET", "/v1/keys", bearer(relabelled))).body.error.code).toBe("token_signature_invalid");
  });

  it("refuses an Access assertion presented as a Bearer token (Access listens on its own header)", async () => {
    const token = await sign({ common_name: "edge-svc.access", sub: "" }, { key: "access" });
    const res = await site().call("GET", "/v1/keys", bearer(token));
    expect(res.body.error.code).toBe("token_issuer_unknown");
  });
});

describe("JWT callers: clock tolerance (the service's clock)", () => {
  it("accepts a token 29 s past exp and refuses it 31 s past (default 30 s)", async () => {
    const token = await sign({ sub: "edge-admin" }); // exp T0 + 3600
    const s = site();
    s.now = T0 + 3600 + 29;
    expect((await s.call("GET", "/v1/keys", bearer(token))).status).toBe(200);
    s.now = T0 + 3600 + 31;
    const res = await s.call("GET", "/v1/keys", bearer(token));
    expect([res.status, res.body.error.code]).toEqual([401, "token_expired"]);
  });

  it("accepts a token 29 s before nbf and refuses it 31 s before", async () => {
    const token = await sign({ sub: "edge-admin", nbf: T0 + 100, exp: T0 + 3600 });
    const s = site();
    s.now = T0 + 100 - 29;
    expect((await s.call("GET", "/v1/keys", bearer(token))).status).toBe(200);
    s.now = T0 + 100 - 31;
    expect((await s.call("GET", "/v1/keys", bearer(token))).body.error.code).toBe("token_not_yet_valid");
  });

  it("takes the tolerance from the issuer's clock_tolerance", async () => {
    const issuers = JSON.stringify({ ...ISSUERS, mesh: { ...ISSUERS.mesh, clock_tolerance: 0 } });
    const token = await sign({ sub: "edge-admin" });
    const s = site({ issuers });
    s.now = T0 + 3599;
    expect((await s.call("GET", "/v1/keys", bearer(token))).status).toBe(200);
    s.now = T0 + 3600;
    expect((await s.call("GET", "/v1/keys", bearer(token))).body.error.code).toBe("token_expired");
  });
});

describe("JWT callers: verified tokens are remembered", () => {
  it("checks a token's signature once a minute at most, and never serves it past its exp", async () => {
    const s = site();
    const token = await sign({ sub: "edge-admin" }); // exp T0 + 3600
    const verify = vi.spyOn(crypto.subtle, "verify");
    try {
      const get = async (at: number) => {
        s.now = at;
        return (await s.call("GET", "/v1/keys", bearer(token))).status;
      };
      expect(await get(T0)).toBe(200);
      expect(verify).toHaveBeenCalledTimes(1);
      expect(await get(T0 + 59)).toBe(200);
      expect(verify).toHaveBeenCalledTimes(1); // remembered
      expect(await get(T0 + 60)).toBe(200);
      expect(verify).toHaveBeenCalledTimes(2); // a minute on: checked again
      // Remembered up to exp, not beyond: past it, every use is checked again (and the tolerance applies).
      expect(await get(T0 + 3590)).toBe(200);
      expect(await get(T0 + 3599)).toBe(200);
      expect(verify).toHaveBeenCalledTimes(3);
      expect(await get(T0 + 3600 + 29)).toBe(200);
      expect(await get(T0 + 3600 + 29)).toBe(200);
      expect(verify).toHaveBeenCalledTimes(5);
      expect(await get(T0 + 3600 + 31)).toBe(401);
      // Another token is never taken for a remembered one, nor is a remembered token taken from another header.
      s.now = T0 + 10;
      expect(await get(T0 + 10)).toBe(200);
      const other = await s.call("GET", "/v1/keys", bearer(`${token.slice(0, -2)}AA`));
      expect([other.status, other.body.error.code]).toEqual([401, "token_signature_invalid"]);
      const viaAccess = await s.call("GET", "/v1/keys", access(token));
      expect(viaAccess.status).toBe(401);
    } finally {
      verify.mockRestore();
    }
  });
});

describe("JWT callers: Cloudflare Access", () => {
  it("accepts a service token's assertion in Cf-Access-Jwt-Assertion", async () => {
    const s = site();
    // What Access sends for a service token: sub empty, common_name the client id, aud a list.
    const res = await s.call("GET", "/v1/stats", access(await sign({ common_name: "edge-svc.access", sub: "" }, { key: "access" })));
    expect([res.status, res.body.context]).toEqual([200, "alpha"]);
    expect(last(s)).toMatchObject({ auth: "jwt:access" });
  });

  it("does not take an empty Authorization header for an absent one: the Access assertion beside it is not read", async () => {
    const s = site();
    const token = await sign({ sub: "7335d417-61da-459d-899c-0a01c76a2f94" }, { key: "access" });
    const res = await s.call("GET", "/v1/keys", { authorization: "", ...access(token) });
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("unauthorized");
  });

  it("maps a user's assertion by another grant", async () => {
    const s = site();
    const token = await sign({ sub: "7335d417-61da-459d-899c-0a01c76a2f94" }, { key: "access" });
    expect((await s.call("GET", "/v1/keys", access(token))).status).toBe(200);
    expect(last(s)).toMatchObject({ context: "beta", auth: "jwt:access" });
    expect((await s.call("GET", "/v1/stats", access(token))).body.error.code).toBe("forbidden");
  });

  it("refuses an assertion for another Access application (aud)", async () => {
    const res = await site().call("GET", "/v1/keys", access(await sign({ aud: ["0".repeat(64)], common_name: "edge-svc.access" }, { key: "access" })));
    expect(res.body.error.code).toBe("token_audience_invalid");
  });

  it("takes the preset's issuer (https://<team domain>) and RS256 only", async () => {
    const wrongIss = await sign({ iss: "https://other-team.cloudflareaccess.com", common_name: "edge-svc.access" }, { key: "access" });
    expect((await site().call("GET", "/v1/keys", access(wrongIss))).body.error.code).toBe("token_issuer_unknown");
    const ps = withHeader(await sign({ common_name: "edge-svc.access" }, { key: "access" }), { alg: "PS256", kid: "access-1" });
    expect((await site().call("GET", "/v1/keys", access(ps))).body.error.code).toBe("token_algorithm_refused");
  });

  it("lets an Authorization header win over an Access assertion", async () => {
    const s = site();
    const assertion = access(await sign({ common_name: "edge-svc.access", sub: "" }, { key: "access" }));
    // alpha-keys has no admin scope: the API token, not the assertion, is the caller.
    const res = await s.call("GET", "/v1/stats", { ...assertion, authorization: "Bearer alpha-keys" });
    expect(res.body.error.code).toBe("forbidden");
    expect(last(s)).toMatchObject({ auth: "token" });
    // A wrong Authorization header is refused even with a valid assertion beside it.
    expect((await s.call("GET", "/v1/stats", { ...assertion, authorization: "Bearer nope" })).body.error.code).toBe("unauthorized");
  });
});

describe("JWT callers beside API tokens", () => {
  it("keeps API tokens working exactly as before", async () => {
    const s = site();
    const ok = await s.call("GET", "/v1/stats", bearer("alpha-all"));
    expect([ok.status, ok.body.context]).toEqual([200, "alpha"]);
    expect(last(s)).toMatchObject({ auth: "token", context: "alpha" });
    for (const headers of [{}, bearer("not-a-token"), { authorization: "Basic YWxwaGEtYWxsOg==" }, { authorization: "Bearer a.b" }]) {
      const res = await s.call("GET", "/v1/stats", headers);
      expect([res.status, res.body.error.code], JSON.stringify(headers)).toEqual([401, "unauthorized"]);
    }
  });

  it("sends JWT-shaped bearer tokens down the API-token path when no issuer listens on Authorization", async () => {
    const onlyAccess = JSON.stringify({ access: ISSUERS.access });
    const res = await site({ issuers: onlyAccess }).call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin" })));
    expect([res.status, res.body.error.code]).toEqual([401, "unauthorized"]);
  });

  it("is off without JWT_ISSUERS: a JWT is just an unknown bearer token", async () => {
    const res = await site({ issuers: "" }).call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin" })));
    expect([res.status, res.body.error.code]).toEqual([401, "unauthorized"]);
    const assertion = await site({ issuers: "" }).call("GET", "/v1/keys", access(await sign({ common_name: "edge-svc.access" }, { key: "access" })));
    expect(assertion.body.error.code).toBe("unauthorized");
  });
});

describe("JWT callers: a remote JWKS", () => {
  afterEach(() => vi.restoreAllMocks());

  it("fetches the key set once for many requests", async () => {
    const server = jwksServer(async () => [await publicJwk(KEYS.remote, "remote-1", "ES256")]);
    const s = site({ fetch: server.fetch });
    const token = await sign({}, { key: "remote" });
    for (let i = 0; i < 5; i++) expect((await s.call("GET", "/v1/stats", bearer(token))).status).toBe(200);
    expect(server.fetches).toBe(1);
    expect(server.urls).toEqual([REMOTE_JWKS_URL]);
    expect(last(s)).toMatchObject({ auth: "jwt:remote", context: "alpha" });
  });

  it("fetches again for an unknown kid, but not within the cooldown", async () => {
    // The cache and the cooldown run on the service's clock (src/auth/remote-jwks.ts): the test moves it.
    const published = [await publicJwk(KEYS.remote, "remote-1", "ES256")];
    const server = jwksServer(() => published);
    const s = site({ fetch: server.fetch });
    expect((await s.call("GET", "/v1/stats", bearer(await sign({}, { key: "remote" })))).status).toBe(200);
    expect(server.fetches).toBe(1);

    // The issuer rotates: a token under the new key arrives before the cooldown (30 s) is over.
    published.push(await publicJwk(KEYS.remoteNext, "remote-2", "ES256"));
    const next = await sign({}, { key: "remoteNext" });
    s.now += 10;
    expect((await s.call("GET", "/v1/stats", bearer(next))).body.error.code).toBe("token_key_unknown");
    expect(server.fetches).toBe(1);

    // After the cooldown, an unknown kid fetches the set again, and the new key is found.
    s.now += 21;
    expect((await s.call("GET", "/v1/stats", bearer(next))).status).toBe(200);
    expect(server.fetches).toBe(2);
    // A kid that is still unknown does not fetch again within the cooldown.
    const unknown = await sign({ iss: ISSUERS.remote.issuer }, { key: "stranger", kid: "remote-3" });
    expect((await s.call("GET", "/v1/stats", bearer(unknown))).body.error.code).toBe("token_key_unknown");
    expect(server.fetches).toBe(2);
  });

  it("answers 503 jwks_unavailable when the key set cannot be fetched, and backs off for Retry-After", async () => {
    const server = jwksServer(async () => [await publicJwk(KEYS.remote, "remote-1", "ES256")]);
    server.down = true;
    const s = site({ fetch: server.fetch });
    const token = await sign({}, { key: "remote" });
    const res = await s.call("GET", "/v1/stats", bearer(token));
    expect([res.status, res.body.error.code, res.headers.get("retry-after")]).toEqual([503, "jwks_unavailable", "5"]);
    expect(res.text).not.toContain("connection refused");
    expect(server.fetches).toBe(1);
    // Within Retry-After (service clock), no fetch: a down issuer is not hammered by every request.
    s.now += 4;
    expect((await s.call("GET", "/v1/stats", bearer(token))).body.error.code).toBe("jwks_unavailable");
    expect(server.fetches).toBe(1);
    // Then it tries again, and the issuer is back.
    server.down = false;
    s.now += 2;
    expect((await s.call("GET", "/v1/stats", bearer(token))).status).toBe(200);
    expect(server.fetches).toBe(2);
  });

  it("answers 503 jwks_unavailable for a key set that is not one, and backs off from it too", async () => {
    for (const answer of [new Response("not json"), Response.json({ nokeys: [] }), new Response("gone", { status: 404 }), Response.redirect("https://elsewhere.test/", 302)]) {
      let fetches = 0;
      const fetchOnce: JwksFetch = async () => (fetches++, answer.clone());
      const s = site({ fetch: fetchOnce });
      const token = await sign({}, { key: "remote" });
      const res = await s.call("GET", "/v1/stats", bearer(token));
      expect([res.status, res.body.error.code]).toEqual([503, "jwks_unavailable"]);
      s.now += 4;
      expect((await s.call("GET", "/v1/stats", bearer(token))).body.error.code).toBe("jwks_unavailable");
      expect(fetches).toBe(1);
    }
  });

  it("never fetches the remote set for another issuer's token", async () => {
    const server = jwksServer(() => []);
    const s = site({ fetch: server.fetch });
    expect((await s.call("GET", "/v1/keys", bearer(await sign({ sub: "edge-admin" })))).status).toBe(200);
    expect(server.fetches).toBe(0);
  });
});
