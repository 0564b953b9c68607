/**
 * JWT callers for the worker tests: keys generated at module load (never
 * committed), their public halves served inline in a JWT_ISSUERS setting, and
 * tokens signed with them. No network: the "remote" issuer's JWKS is served
 * by a fetch the test injects (or refused by the harness's default).
 */
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { encodeBase64url } from "../../src/core/index.js";
import type { Env } from "../../src/env.js";
import type { ErrorCode } from "../../src/errors.js";
import { unreachableGuard } from "./faults.js";
import { T0 } from "./harness.js";

type Pair = { publicKey: CryptoKey; privateKey: CryptoKey };

export const KEYS = {
  meshEs: await generateKeyPair("ES256"),
  meshEd: await generateKeyPair("EdDSA"),
  rsa: await generateKeyPair("RS256"),
  access: await generateKeyPair("RS256"),
  remote: await generateKeyPair("ES256"),
  remoteNext: await generateKeyPair("ES256"),
  /** The issuer whose tokens must say typ at+jwt. */
  typed: await generateKeyPair("ES256"),
  /** The issuer that refuses a jti's second use fleet-wide. */
  once: await generateKeyPair("ES256"),
  /** In no key set. */
  stranger: await generateKeyPair("ES256"),
} satisfies Record<string, Pair>;

export async function publicJwk(pair: Pair, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(pair.publicKey)), kid, alg, use: "sig" };
}

export const ACCESS_TEAM = "esr-test.cloudflareaccess.com";
export const ACCESS_AUD = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2";
export const REMOTE_JWKS_URL = "https://remote.test/.well-known/jwks.json";
/** A claim every test token carries and no answer or log line may show (stands for a subject's PII). */
export const PII = "jwt-caller@example.test";

export const ISSUERS = {
  mesh: {
    issuer: "https://mesh.test",
    audience: "esr",
    jwks: { keys: [await publicJwk(KEYS.meshEs, "mesh-es", "ES256"), await publicJwk(KEYS.meshEd, "mesh-ed", "EdDSA")] },
    algorithms: ["ES256", "EdDSA"],
    grants: [
      { when: { sub: "edge-fra" }, context: "alpha", scopes: ["tickets", "sessions"] },
      { when: { sub: ["edge-admin", "edge-root"] }, context: "alpha", scopes: ["tickets", "sessions", "keys", "admin", "stek"] },
      { when: { groups: "readers" }, context: "alpha", scopes: ["keys"] },
      { context: { claim: "esr_context", allowed: ["alpha", "beta"] }, scopes: { claim: "scope", allowed: ["tickets", "sessions"] } },
    ],
  },
  rsa: {
    issuer: "https://rsa.test",
    audience: ["esr", "esr-staging"],
    jwks: { keys: [await publicJwk(KEYS.rsa, "rsa-1", "RS256")] },
    algorithms: ["RS256"],
    clock_tolerance: 30,
    grants: [{ context: "beta", scopes: ["tickets", "sessions", "keys"] }],
  },
  access: {
    preset: "cloudflare-access",
    team_domain: ACCESS_TEAM,
    audience: ACCESS_AUD,
    // Inline instead of https://<team>/cdn-cgi/access/certs: no network in tests.
    jwks: { keys: [await publicJwk(KEYS.access, "access-1", "RS256")] },
    grants: [
      { when: { common_name: "edge-svc.access" }, context: "alpha", scopes: ["tickets", "sessions", "keys", "admin", "stek"] },
      { when: { email: PII }, context: "beta", scopes: ["keys"] },
    ],
  },
  remote: {
    issuer: "https://remote.test",
    audience: "esr",
    jwks_url: REMOTE_JWKS_URL,
    algorithms: ["ES256"],
    grants: [{ context: "alpha", scopes: ["tickets", "sessions", "keys", "admin", "stek"] }],
  },
  /** OAuth access tokens (RFC 9068): typ at+jwt, so an ID token of the same issuer is no access token here. */
  typed: {
    issuer: "https://typed.test",
    audience: "esr",
    jwks: { keys: [await publicJwk(KEYS.typed, "typed-1", "ES256")] },
    algorithms: ["ES256"],
    typ: "at+jwt",
    grants: [{ context: "alpha", scopes: ["tickets", "sessions", "keys"] }],
  },
  /** Tokens minted per request: each jti is accepted once, fleet-wide. */
  once: {
    issuer: "https://once.test",
    audience: "esr",
    jwks: { keys: [await publicJwk(KEYS.once, "once-1", "ES256")] },
    algorithms: ["ES256"],
    jti_replay: "fleet",
    grants: [{ context: "alpha", scopes: ["tickets", "sessions", "keys"] }],
  },
};

export const JWT_ISSUERS = JSON.stringify(ISSUERS);

export interface SignOptions {
  /** Which key signs: default the mesh's ES256 key. */
  key?: keyof typeof KEYS;
  alg?: string;
  kid?: string | null;
  /** Unix seconds the token is issued at; exp is iat + 3600 unless the claims say otherwise. */
  iat?: number;
  /** The typ header: default "at+jwt" for the typed issuer's key, "JWT" otherwise; null leaves it out. */
  typ?: string | null;
}

const SIGNERS: Record<keyof typeof KEYS, { alg: string; kid: string }> = {
  meshEs: { alg: "ES256", kid: "mesh-es" },
  meshEd: { alg: "EdDSA", kid: "mesh-ed" },
  rsa: { alg: "RS256", kid: "rsa-1" },
  access: { alg: "RS256", kid: "access-1" },
  remote: { alg: "ES256", kid: "remote-1" },
  remoteNext: { alg: "ES256", kid: "remote-2" },
  typed: { alg: "ES256", kid: "typed-1" },
  once: { alg: "ES256", kid: "once-1" },
  stranger: { alg: "ES256", kid: "stranger" },
};

const ISS: Record<keyof typeof KEYS, string> = {
  meshEs: ISSUERS.mesh.issuer,
  meshEd: ISSUERS.mesh.issuer,
  rsa: ISSUERS.rsa.issuer,
  access: `https://${ACCESS_TEAM}`,
  remote: ISSUERS.remote.issuer,
  remoteNext: ISSUERS.remote.issuer,
  typed: ISSUERS.typed.issuer,
  once: ISSUERS.once.issuer,
  stranger: ISSUERS.mesh.issuer,
};

/**
 * A signed JWT. Claims default to the signing key's issuer, aud "esr" (the
 * AUD tag for Access), sub edge-fra, iat T0, exp iat + 3600, a fresh
 * random jti and the PII claim; a claim set to undefined is left out.
 */
export async function sign(claims: Record<string, unknown> = {}, options: SignOptions = {}): Promise<string> {
  const key = options.key ?? "meshEs";
  const signer = SIGNERS[key];
  const iat = options.iat ?? T0;
  const full: Record<string, unknown> = {
    iss: ISS[key],
    aud: key === "access" ? [ACCESS_AUD] : "esr",
    sub: "edge-fra",
    iat,
    exp: iat + 3600,
    jti: crypto.randomUUID(),
    email: PII,
    ...claims,
  };
  for (const k of Object.keys(full)) if (full[k] === undefined) delete full[k];
  const header: { alg: string; kid?: string; typ?: string } = { alg: options.alg ?? signer.alg };
  const typ = options.typ === undefined ? (key === "typed" ? "at+jwt" : "JWT") : options.typ;
  if (typ !== null) header.typ = typ;
  const kid = options.kid === undefined ? signer.kid : options.kid;
  if (kid !== null) header.kid = kid;
  return new SignJWT(full as JWTPayload).setProtectedHeader(header).sign(KEYS[key].privateKey);
}

const b64json = (v: object) => encodeBase64url(new TextEncoder().encode(JSON.stringify(v)));

/** An unsigned JWT: alg none, empty signature. */
export function unsigned(claims: JWTPayload = {}): string {
  return `${b64json({ alg: "none", typ: "JWT" })}.${b64json({ iss: ISSUERS.mesh.issuer, aud: "esr", sub: "edge-admin", iat: T0, exp: T0 + 3600, ...claims })}.`;
}

/** The token with its claims replaced but its header and signature kept: a tampered token. */
export function tampered(token: string, claims: JWTPayload): string {
  const [h, p, s] = token.split(".");
  const payload = JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(p!.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0))));
  return `${h}.${b64json({ ...payload, ...claims })}.${s}`;
}

/** The token under another protected header, its claims and signature kept. */
export function withHeader(token: string, header: object): string {
  const [, p, s] = token.split(".");
  return `${b64json(header)}.${p}.${s}`;
}

/** One refusal: the header it arrives in, the token, and the answer's code. */
export interface Refusal {
  name: string;
  headers: Record<string, string>;
  code: ErrorCode;
  token: string;
  /** The token is presented once before (and accepted), from any location: the refused request is its replay. */
  presentFirst?: boolean;
  /** Bindings beside JWT_ISSUERS for the refused request (a fault). */
  env?: () => Partial<Env>;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every way a JWT is refused (checked at T0), for the contract matrix and the JWT tests. */
export async function refusals(): Promise<Refusal[]> {
  const rows: Omit<Refusal, "headers">[] = [
    { name: "not base64url JSON", token: "bm90.anNvbg.c2ln", code: "token_malformed" },
    { name: "an issuer nobody configured", token: await sign({ iss: "https://nobody.test" }), code: "token_issuer_unknown" },
    { name: "alg none", token: unsigned(), code: "token_algorithm_refused" },
    { name: "an alg its issuer does not take (RS256 for the mesh)", token: await sign({ iss: ISSUERS.mesh.issuer }, { key: "rsa" }), code: "token_algorithm_refused" },
    { name: "a key in no key set", token: await sign({}, { key: "stranger" }), code: "token_key_unknown" },
    { name: "tampered claims", token: tampered(await sign(), { sub: "edge-admin" }), code: "token_signature_invalid" },
    { name: "expired an hour ago", token: await sign({}, { iat: T0 - 7200 }), code: "token_expired" },
    { name: "not before an hour from now", token: await sign({ nbf: T0 + 3600, exp: T0 + 7200 }), code: "token_not_yet_valid" },
    { name: "another audience", token: await sign({ aud: "someone-else" }), code: "token_audience_invalid" },
    { name: "no exp", token: await sign({ exp: undefined }), code: "token_claims_invalid" },
    { name: "a typ its issuer does not take (JWT where at+jwt is required)", token: await sign({}, { key: "typed", typ: "JWT" }), code: "token_type_invalid" },
    { name: "no jti where its issuer refuses replays", token: await sign({ jti: undefined }, { key: "once" }), code: "token_claims_invalid" },
    { name: "a jti used before (fleet-wide)", token: await sign({}, { key: "once" }), code: "token_replayed", presentFirst: true },
    { name: "the fleet-wide record of used jtis unreachable", token: await sign({}, { key: "once" }), code: "replay_guard_unavailable", env: () => ({ REPLAY_GUARD: unreachableGuard }) },
    { name: "no grant matches", token: await sign({ sub: "edge-unknown" }), code: "token_not_granted" },
    { name: "the remote JWKS unreachable", token: await sign({}, { key: "remote" }), code: "jwks_unavailable" },
  ];
  const out: Refusal[] = rows.map((r) => ({ ...r, headers: bearer(r.token) }));
  // The Access header too (no Authorization header).
  const accessBadSig = tampered(await sign({ common_name: "edge-svc.access", sub: "" }, { key: "access" }), { common_name: "other.access" });
  out.push({ name: "a tampered Access assertion", headers: { "cf-access-jwt-assertion": accessBadSig }, token: accessBadSig, code: "token_signature_invalid" });
  out.push({ name: "an Access assertion that is no JWT", headers: { "cf-access-jwt-assertion": "not-a-jwt" }, token: "not-a-jwt", code: "token_malformed" });
  return out;
}
