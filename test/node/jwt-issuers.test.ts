/**
 * JWT_ISSUERS, parsed once (src/auth/issuers.ts): the Cloudflare Access
 * preset and its overrides, defaults, and an error naming the path of every
 * wrong value. Pure settings code: runs in Node.
 */
import { describe, expect, it } from "vitest";
import { parseJwtIssuers } from "../../src/auth/issuers.js";
import { loadConfig, parseConfig } from "../../src/config.js";
import { ConfigError } from "../../src/errors.js";
import { TEST_CONTEXTS, TEST_MASTER_KEY } from "../worker/fixtures.js";

const CONTEXTS = new Set(Object.keys(TEST_CONTEXTS));
const EC_JWK = { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", kid: "k1" };

const MESH = {
  issuer: "https://mesh.example",
  audience: "esr",
  jwks: { keys: [EC_JWK] },
  algorithms: ["ES256"],
  grants: [{ context: "alpha", scopes: ["tickets"] }],
};
const ACCESS = { preset: "cloudflare-access", team_domain: "myteam.cloudflareaccess.com", audience: "aud-tag", grants: [{ context: "alpha", scopes: ["tickets", "sessions"] }] };

const parse = (v: unknown) => parseJwtIssuers(JSON.stringify(v), CONTEXTS);

/** The ConfigError parsing `v` throws: its setting path and message. */
function failure(v: unknown): { setting: string; message: string } {
  try {
    parse(v);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return { setting: (err as ConfigError).setting, message: (err as ConfigError).message };
  }
  throw new Error("expected a ConfigError");
}

describe("JWT_ISSUERS", () => {
  it("is off when absent or empty", () => {
    expect(parseJwtIssuers(undefined, CONTEXTS)).toEqual([]);
    expect(parseJwtIssuers("  ", CONTEXTS)).toEqual([]);
    expect(parseJwtIssuers("{}", CONTEXTS)).toEqual([]);
  });

  it("fills in the Cloudflare Access preset: issuer, certs URL, RS256, its header", () => {
    const [access] = parse({ access: ACCESS });
    expect(access).toMatchObject({
      name: "access",
      preset: "cloudflare-access",
      issuer: "https://myteam.cloudflareaccess.com",
      keys: { kind: "remote", url: "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs" },
      algorithms: ["RS256"],
      header: "cf-access-jwt-assertion",
      audience: ["aud-tag"],
      clockTolerance: 30,
    });
    // The team domain may be pasted as a URL.
    expect(parse({ access: { ...ACCESS, team_domain: "https://MyTeam.cloudflareaccess.com/" } })[0]!.issuer).toBe("https://myteam.cloudflareaccess.com");
  });

  it("lets explicit fields override the preset's defaults", () => {
    const [access] = parse({ access: { ...ACCESS, jwks: { keys: [{ kty: "RSA", n: "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", e: "AQAB", kid: "r1" }] }, header: "authorization", clock_tolerance: 5 } });
    expect(access!.keys.kind).toBe("inline");
    expect(access!.header).toBe("authorization");
    expect(access!.clockTolerance).toBe(5);
  });

  it("parses the grants: conditions, fixed and claim-based contexts and scopes", () => {
    const [mesh] = parse({
      mesh: {
        ...MESH,
        audience: ["esr", "esr-staging"],
        grants: [
          { when: { sub: "edge-fra", groups: ["a", "b"] }, context: "alpha", scopes: ["tickets", "sessions"] },
          { context: { claim: "esr_context", allowed: ["alpha", "beta"] }, scopes: { claim: "scope", allowed: ["tickets"] } },
          { context: { claim: "esr_context" }, scopes: ["keys"] },
        ],
      },
    });
    expect(mesh!.audience).toEqual(["esr", "esr-staging"]);
    expect(mesh!.grants[0]).toEqual({
      when: [
        { claim: "sub", anyOf: ["edge-fra"] },
        { claim: "groups", anyOf: ["a", "b"] },
      ],
      context: { kind: "fixed", context: "alpha" },
      scopes: { kind: "fixed", scopes: new Set(["tickets", "sessions"]) },
    });
    expect(mesh!.grants[1]).toEqual({
      when: [],
      context: { kind: "claim", claim: "esr_context", allowed: new Set(["alpha", "beta"]) },
      scopes: { kind: "claim", claim: "scope", allowed: new Set(["tickets"]) },
    });
    expect(mesh!.grants[2]!.context).toEqual({ kind: "claim", claim: "esr_context", allowed: undefined });
  });

  it("allows http for a loopback JWKS URL only", () => {
    expect(parse({ mesh: { ...MESH, jwks: undefined, jwks_url: "http://127.0.0.1:8788/jwks.json" } })[0]!.keys).toEqual({ kind: "remote", url: "http://127.0.0.1:8788/jwks.json", staleIfError: 86_400 });
    expect(failure({ mesh: { ...MESH, jwks: undefined, jwks_url: "http://mesh.example/jwks.json" } })).toMatchObject({ setting: "JWT_ISSUERS.mesh.jwks_url" });
  });

  it.each([
    ["not JSON", "{", "JWT_ISSUERS", /not valid JSON/],
    ["a list", [], "JWT_ISSUERS", /JSON object/],
    ["a bad name", { "a b": MESH }, "JWT_ISSUERS.a b", /issuer name/],
    ["an unknown key", { mesh: { ...MESH, secret: 1 } }, "JWT_ISSUERS.mesh.secret", /not a known setting/],
    ["alg none", { mesh: { ...MESH, algorithms: ["ES256", "none"] } }, "JWT_ISSUERS.mesh.algorithms[1]", /unsigned/],
    ["HS256", { mesh: { ...MESH, algorithms: ["HS256"] } }, "JWT_ISSUERS.mesh.algorithms[0]", /shared-secret.*could also sign|shared-secret/],
    ["an unknown alg", { mesh: { ...MESH, algorithms: ["ES256K"] } }, "JWT_ISSUERS.mesh.algorithms[0]", /one of RS256/],
    ["no algorithms", { mesh: { ...MESH, algorithms: [] } }, "JWT_ISSUERS.mesh.algorithms", /non-empty/],
    ["algorithms missing", { mesh: { ...MESH, algorithms: undefined } }, "JWT_ISSUERS.mesh.algorithms", /required/],
    ["a repeated alg", { mesh: { ...MESH, algorithms: ["ES256", "ES256"] } }, "JWT_ISSUERS.mesh.algorithms[1]", /twice/],
    ["both jwks and jwks_url", { mesh: { ...MESH, jwks_url: "https://mesh.example/jwks" } }, "JWT_ISSUERS.mesh.jwks", /either/],
    ["neither jwks nor jwks_url", { mesh: { ...MESH, jwks: undefined } }, "JWT_ISSUERS.mesh.jwks_url", /required/],
    ["a jwks without keys", { mesh: { ...MESH, jwks: { key: [] } } }, "JWT_ISSUERS.mesh.jwks", /JWK Set/],
    ["an empty jwks", { mesh: { ...MESH, jwks: { keys: [] } } }, "JWT_ISSUERS.mesh.jwks.keys", /1 to 32/],
    ["a private key in the jwks", { mesh: { ...MESH, jwks: { keys: [{ ...EC_JWK, d: "c2VjcmV0LXNjYWxhcg" }] } } }, "JWT_ISSUERS.mesh.jwks.keys[0].d", /private key/],
    ["a symmetric key", { mesh: { ...MESH, jwks: { keys: [{ kty: "oct", k: "c2VjcmV0" }] } } }, "JWT_ISSUERS.mesh.jwks.keys[0].kty", /symmetric/],
    ["a repeated kid", { mesh: { ...MESH, jwks: { keys: [EC_JWK, EC_JWK] } } }, "JWT_ISSUERS.mesh.jwks.keys[1].kid", /another key/],
    ["an encryption key", { mesh: { ...MESH, jwks: { keys: [{ ...EC_JWK, use: "enc" }] } } }, "JWT_ISSUERS.mesh.jwks.keys[0].use", /sig/],
    ["a JWKS URL that is no URL", { mesh: { ...MESH, jwks: undefined, jwks_url: "jwks.json" } }, "JWT_ISSUERS.mesh.jwks_url", /absolute URL/],
    ["credentials in the JWKS URL", { mesh: { ...MESH, jwks: undefined, jwks_url: "https://u:p@mesh.example/jwks" } }, "JWT_ISSUERS.mesh.jwks_url", /credentials/],
    ["no audience", { mesh: { ...MESH, audience: undefined } }, "JWT_ISSUERS.mesh.audience", /required/],
    ["an empty audience list", { mesh: { ...MESH, audience: [] } }, "JWT_ISSUERS.mesh.audience", /non-empty/],
    ["no issuer", { mesh: { ...MESH, issuer: undefined } }, "JWT_ISSUERS.mesh.issuer", /required/],
    ["a clock tolerance over 300", { mesh: { ...MESH, clock_tolerance: 301 } }, "JWT_ISSUERS.mesh.clock_tolerance", /0 to 300/],
    ["a fractional clock tolerance", { mesh: { ...MESH, clock_tolerance: 1.5 } }, "JWT_ISSUERS.mesh.clock_tolerance", /integer/],
    ["an uppercase header", { mesh: { ...MESH, header: "Authorization" } }, "JWT_ISSUERS.mesh.header", /lowercase/],
    ["no grants", { mesh: { ...MESH, grants: [] } }, "JWT_ISSUERS.mesh.grants", /1 to 32/],
    ["a grant in an unknown context", { mesh: { ...MESH, grants: [{ context: "gamma", scopes: ["tickets"] }] } }, "JWT_ISSUERS.mesh.grants[0].context", /CONTEXTS/],
    ["an allowed context that is unknown", { mesh: { ...MESH, grants: [{ context: { claim: "c", allowed: ["alpha", "gamma"] }, scopes: ["tickets"] }] } }, "JWT_ISSUERS.mesh.grants[0].context.allowed[1]", /CONTEXTS/],
    ["an unknown scope", { mesh: { ...MESH, grants: [{ context: "alpha", scopes: ["tickets", "root"] }] } }, "JWT_ISSUERS.mesh.grants[0].scopes[1]", /one of/],
    ["claim scopes without allowed", { mesh: { ...MESH, grants: [{ context: "alpha", scopes: { claim: "scope" } }] } }, "JWT_ISSUERS.mesh.grants[0].scopes.allowed", /required/],
    ["a grant without scopes", { mesh: { ...MESH, grants: [{ context: "alpha" }] } }, "JWT_ISSUERS.mesh.grants[0].scopes", /required/],
    ["an unknown grant key", { mesh: { ...MESH, grants: [{ context: "alpha", scopes: ["tickets"], unless: {} }] } }, "JWT_ISSUERS.mesh.grants[0].unless", /not a known setting/],
    ["a condition on an object", { mesh: { ...MESH, grants: [{ when: { sub: { eq: 1 } }, context: "alpha", scopes: ["tickets"] }] } }, "JWT_ISSUERS.mesh.grants[0].when.sub", /string, number or boolean/],
    ["an unknown preset", { access: { ...ACCESS, preset: "okta" } }, "JWT_ISSUERS.access.preset", /cloudflare-access/],
    ["the preset without its team domain", { access: { ...ACCESS, team_domain: undefined } }, "JWT_ISSUERS.access.team_domain", /required/],
    ["a team domain without the preset", { mesh: { ...MESH, team_domain: "myteam.cloudflareaccess.com" } }, "JWT_ISSUERS.mesh.team_domain", /preset/],
    ["a team domain that is no host name", { access: { ...ACCESS, team_domain: "my team" } }, "JWT_ISSUERS.access.team_domain", /team domain/],
    ["the preset without its AUD tag", { access: { ...ACCESS, audience: undefined } }, "JWT_ISSUERS.access.audience", /AUD tag/],
    ["two issuers with one iss on one header", { mesh: MESH, mesh2: MESH }, "JWT_ISSUERS.mesh2.issuer", /JWT_ISSUERS.mesh's/],
    ["a typ that is no media type", { mesh: { ...MESH, typ: "at jwt" } }, "JWT_ISSUERS.mesh.typ", /media type/],
    ["an empty typ", { mesh: { ...MESH, typ: "" } }, "JWT_ISSUERS.mesh.typ", /media type/],
    ["an unknown jti_replay", { mesh: { ...MESH, jti_replay: true } }, "JWT_ISSUERS.mesh.jti_replay", /"isolate".*"fleet"/],
    ["a stale bound over a week", { access: { ...ACCESS, jwks_stale_if_error: 604_801 } }, "JWT_ISSUERS.access.jwks_stale_if_error", /0 to 604800/],
    ["a negative stale bound", { access: { ...ACCESS, jwks_stale_if_error: -1 } }, "JWT_ISSUERS.access.jwks_stale_if_error", /0 to 604800/],
    ["a stale bound for an inline jwks", { mesh: { ...MESH, jwks_stale_if_error: 60 } }, "JWT_ISSUERS.mesh.jwks_stale_if_error", /jwks_url only/],
  ])("refuses %s", (_, value, setting, message) => {
    const text = typeof value === "string" ? value : JSON.stringify(value);
    let err: unknown;
    try {
      parseJwtIssuers(text, CONTEXTS);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).setting).toBe(setting);
    expect((err as ConfigError).message).toMatch(message);
  });

  it("takes typ, jti_replay and jwks_stale_if_error; none of them checked or changed by default", () => {
    const [plain] = parse({ mesh: MESH });
    expect(plain).toMatchObject({ typ: undefined, jtiReplay: undefined });
    const [access] = parse({ access: ACCESS });
    expect(access!.keys).toMatchObject({ kind: "remote", staleIfError: 86_400 });
    const [mesh, acc] = parse({ mesh: { ...MESH, typ: "application/at+jwt", jti_replay: "fleet" }, access: { ...ACCESS, jti_replay: "isolate", jwks_stale_if_error: 0 } });
    expect(mesh).toMatchObject({ typ: "application/at+jwt", jtiReplay: "fleet" });
    expect(acc).toMatchObject({ jtiReplay: "isolate", keys: { kind: "remote", staleIfError: 0 } });
  });

  it("names a private key member without its value", () => {
    const { message } = failure({ mesh: { ...MESH, jwks: { keys: [{ ...EC_JWK, d: "c2VjcmV0LXNjYWxhcg" }] } } });
    expect(message).not.toContain("c2VjcmV0LXNjYWxhcg");
  });

  it("allows one iss on two headers (e.g. Access on its header and as a Bearer token)", () => {
    const issuers = parse({ access: ACCESS, bearer: { ...ACCESS, header: "authorization" } });
    expect(issuers.map((i) => i.header)).toEqual(["cf-access-jwt-assertion", "authorization"]);
  });

  it("is part of the config, and of its fingerprint", () => {
    const base = { MASTER_KEY: TEST_MASTER_KEY, CONTEXTS: JSON.stringify(TEST_CONTEXTS) };
    expect(parseConfig(base).jwtIssuers).toEqual([]);
    const a = loadConfig({ ...base, JWT_ISSUERS: JSON.stringify({ mesh: MESH }) });
    const b = loadConfig({ ...base, JWT_ISSUERS: JSON.stringify({ access: ACCESS }) });
    expect(a.jwtIssuers.map((i) => i.name)).toEqual(["mesh"]);
    expect(b.jwtIssuers.map((i) => i.name)).toEqual(["access"]);
    expect(() => parseConfig({ ...base, JWT_ISSUERS: '{"mesh": 1}' })).toThrow(/JWT_ISSUERS.mesh: must be a JSON object/);
  });
});
