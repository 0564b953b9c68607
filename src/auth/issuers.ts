/**
 * JWT_ISSUERS: the issuers whose signed JWTs are accepted beside the
 * API_TOKENS bearer tokens, parsed and validated once (from parseConfig).
 * Every error names its path (JWT_ISSUERS.mesh.algorithms[1]); unknown keys
 * are errors. Pure: no jose, no I/O; the key sets are built in services.ts
 * (src/auth/jwt.ts).
 *
 * {
 *   "access": { "preset": "cloudflare-access", "team_domain": "myteam.cloudflareaccess.com",
 *               "audience": "<Access application AUD tag>",
 *               "grants": [ { "context": "default", "scopes": ["tickets", "sessions"] } ] },
 *   "mesh":   { "issuer": "https://mesh.example", "audience": "esr",
 *               "jwks_url": "https://mesh.example/.well-known/jwks.json",   (or "jwks": {"keys": [...]})
 *               "algorithms": ["ES256"], "header": "authorization", "clock_tolerance": 30,
 *               "typ": "at+jwt", "jti_replay": "fleet", "jwks_stale_if_error": 86400,
 *               "grants": [ { "when": { "sub": "edge-fra" }, "context": "default", "scopes": ["tickets"] },
 *                           { "context": { "claim": "esr_context", "allowed": ["default"] },
 *                             "scopes": { "claim": "scope", "allowed": ["tickets"] } } ] }
 * }
 */
import { ConfigError } from "../errors.js";
import { SCOPES, type Scope } from "./caller.js";

/** Asymmetric JWS algorithms only: the verifier holds public keys, never a key that can sign. */
export const JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

export const PRESETS = ["cloudflare-access"] as const;
export type Preset = (typeof PRESETS)[number];

/** The header Cloudflare Access puts its application token in (lowercase, as Headers.get takes it). */
export const ACCESS_HEADER = "cf-access-jwt-assertion";
export const DEFAULT_CLOCK_TOLERANCE = 30;
export const MAX_CLOCK_TOLERANCE = 300;
/** Seconds a remote key set keeps verifying while its endpoint fails (jwks_stale_if_error): a day by default. */
export const DEFAULT_JWKS_STALE_IF_ERROR = 86_400;
export const MAX_JWKS_STALE_IF_ERROR = 604_800;

/** Where a JWT's jti is remembered to refuse its second use: this isolate, or the whole fleet (the replay guard's Durable Objects). */
export const JTI_REPLAY_MODES = ["isolate", "fleet"] as const;
export type JtiReplay = (typeof JTI_REPLAY_MODES)[number];

export type ClaimValue = string | number | boolean;

/** A claim equals one of the values (an array claim: contains one of them). */
export interface ClaimCondition {
  claim: string;
  anyOf: readonly ClaimValue[];
}

export type ContextRule =
  | { kind: "fixed"; context: string }
  /** The claim's string value names the context; it must be in CONTEXTS, and in `allowed` when given. */
  | { kind: "claim"; claim: string; allowed: ReadonlySet<string> | undefined };

export type ScopesRule =
  | { kind: "fixed"; scopes: ReadonlySet<Scope> }
  /** The claim (space-separated string, as OAuth's `scope`, or an array) intersected with `allowed`. */
  | { kind: "claim"; claim: string; allowed: ReadonlySet<Scope> };

export interface JwtGrant {
  /** Every condition must hold; none: the grant always matches. */
  when: readonly ClaimCondition[];
  context: ContextRule;
  scopes: ScopesRule;
}

export type KeySource =
  | { kind: "inline"; jwks: { keys: readonly Record<string, unknown>[] } }
  /** staleIfError: seconds a fetched set keeps verifying while the endpoint fails. */
  | { kind: "remote"; url: string; staleIfError: number };

export interface JwtIssuer {
  /** The setting's key: names the issuer in errors and in the request log ("jwt:<name>"). */
  name: string;
  preset: Preset | undefined;
  /** The exact `iss` the tokens carry. */
  issuer: string;
  /** A token's `aud` must hold one of these. */
  audience: readonly string[];
  keys: KeySource;
  algorithms: readonly JwtAlgorithm[];
  /** Lowercase request header the token arrives in; "authorization" means `Authorization: Bearer <jwt>`. */
  header: string;
  /** Seconds of leeway for exp, nbf and iat. */
  clockTolerance: number;
  /** The `typ` header every token must carry (e.g. "at+jwt", compared as RFC 7515 says); undefined: not checked. */
  typ: string | undefined;
  /** Refuse a jti seen before (and a token without one), remembered in this isolate or fleet-wide; undefined: jti is not checked. */
  jtiReplay: JtiReplay | undefined;
  /** Tried in order: the first whose `when` matches decides. */
  grants: readonly JwtGrant[];
}

const ISSUER_KEYS = [
  "preset",
  "team_domain",
  "issuer",
  "audience",
  "jwks",
  "jwks_url",
  "jwks_stale_if_error",
  "algorithms",
  "header",
  "clock_tolerance",
  "typ",
  "jti_replay",
  "grants",
];
const GRANT_KEYS = ["when", "context", "scopes"];
/** Members of a private or symmetric JWK: a key that can sign has no place in a verifier's settings. */
const SECRET_JWK_MEMBERS = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];
const HOST_NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/;
const HEADER_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const CLAIM_NAME = /^[\x21-\x7e]{1,64}$/;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isClaimValue = (v: unknown): v is ClaimValue => typeof v === "string" || typeof v === "boolean" || (typeof v === "number" && Number.isFinite(v));

function object(path: string, v: unknown, known: readonly string[]): Record<string, unknown> {
  if (!isObject(v)) throw new ConfigError(path, "must be a JSON object");
  for (const key of Object.keys(v)) if (!known.includes(key)) throw new ConfigError(`${path}.${key}`, `is not a known setting (known: ${known.join(", ")})`);
  return v;
}

function nonEmptyString(path: string, v: unknown, max = 512): string {
  if (typeof v !== "string" || v.length === 0 || v.length > max) throw new ConfigError(path, `must be a string of 1 to ${max} characters`);
  return v;
}

function stringList(path: string, v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(path, `must be a non-empty list of ${what}`);
  return v.map((x, i) => nonEmptyString(`${path}[${i}]`, x));
}

function algorithms(path: string, v: unknown): JwtAlgorithm[] {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(path, `must be a non-empty list of ${JWT_ALGORITHMS.join(", ")}`);
  const out: JwtAlgorithm[] = [];
  v.forEach((alg, i) => {
    const at = `${path}[${i}]`;
    if (typeof alg === "string" && alg.toLowerCase() === "none") {
      throw new ConfigError(at, '"none" is an unsigned token that anyone can write: never accepted');
    }
    if (typeof alg === "string" && /^HS\d+$/i.test(alg)) {
      throw new ConfigError(at, "shared-secret (HMAC) JWTs are not supported: the verifier would hold a key that can also sign tokens; use an asymmetric algorithm");
    }
    if (typeof alg !== "string" || !(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
      throw new ConfigError(at, `must be one of ${JWT_ALGORITHMS.join(", ")}`);
    }
    if (out.includes(alg as JwtAlgorithm)) throw new ConfigError(at, "is listed twice");
    out.push(alg as JwtAlgorithm);
  });
  return out;
}

/** An inline JWKS: public signature keys only, each with its key type. */
function inlineJwks(path: string, v: unknown): { keys: Record<string, unknown>[] } {
  if (!isObject(v) || !Array.isArray(v.keys)) throw new ConfigError(path, 'must be a JWK Set: {"keys": [...]}');
  if (v.keys.length === 0 || v.keys.length > 32) throw new ConfigError(`${path}.keys`, "must hold 1 to 32 keys");
  const kids = new Set<string>();
  v.keys.forEach((key, i) => {
    const at = `${path}.keys[${i}]`;
    if (!isObject(key)) throw new ConfigError(at, "must be a JWK (a JSON object)");
    if (key.kty === "oct") throw new ConfigError(`${at}.kty`, "symmetric keys are not supported (see algorithms)");
    if (!["RSA", "EC", "OKP"].includes(key.kty as string)) throw new ConfigError(`${at}.kty`, "must be RSA, EC or OKP");
    // The message names the member, never its value: it is a private key.
    const secret = SECRET_JWK_MEMBERS.find((m) => m in key);
    if (secret) throw new ConfigError(`${at}.${secret}`, "is private key material: a JWKS for verification holds public keys only");
    if (key.kid !== undefined) {
      if (typeof key.kid !== "string" || key.kid.length === 0) throw new ConfigError(`${at}.kid`, "must be a non-empty string");
      if (kids.has(key.kid)) throw new ConfigError(`${at}.kid`, "is used by another key of this set");
      kids.add(key.kid);
    }
    if (key.use !== undefined && key.use !== "sig") throw new ConfigError(`${at}.use`, 'must be "sig" when given');
  });
  return { keys: v.keys as Record<string, unknown>[] };
}

function jwksUrl(path: string, v: unknown): string {
  const text = nonEmptyString(path, v, 2048);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(path, "must be an absolute URL");
  }
  const loopback = LOOPBACK.has(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new ConfigError(path, "must be https (http only for 127.0.0.1 or localhost, in tests): the key set decides whom the service trusts");
  }
  if (url.username || url.password) throw new ConfigError(path, "must not carry credentials");
  if (url.hash) throw new ConfigError(path, "must not have a fragment");
  return url.href;
}

/** "myteam.cloudflareaccess.com" (or with https:// and a trailing slash) to the bare host name. */
function teamDomain(path: string, v: unknown): string {
  const text = nonEmptyString(path, v, 253)
    .trim()
    .replace(/^https:\/\//i, "")
    .replace(/\/$/, "")
    .toLowerCase();
  if (!HOST_NAME.test(text)) throw new ConfigError(path, "must be the Access team domain, e.g. myteam.cloudflareaccess.com");
  return text;
}

function claimName(path: string, v: unknown): string {
  if (typeof v !== "string" || !CLAIM_NAME.test(v)) throw new ConfigError(path, "must name a claim (1 to 64 printable characters)");
  return v;
}

function conditions(path: string, v: unknown): ClaimCondition[] {
  if (v === undefined) return [];
  if (!isObject(v)) throw new ConfigError(path, 'must be an object of claim -> value (or list of values), e.g. {"sub": "edge-fra"}');
  return Object.entries(v).map(([claim, value]) => {
    const at = `${path}.${claim}`;
    claimName(at, claim);
    if (isClaimValue(value)) return { claim, anyOf: [value] };
    if (Array.isArray(value) && value.length > 0) {
      const bad = value.findIndex((x) => !isClaimValue(x));
      if (bad >= 0) throw new ConfigError(`${at}[${bad}]`, "must be a string, number or boolean");
      return { claim, anyOf: value as ClaimValue[] };
    }
    throw new ConfigError(at, "must be a string, number or boolean, or a non-empty list of them (any of)");
  });
}

function contextRule(path: string, v: unknown, contexts: ReadonlySet<string>): ContextRule {
  if (typeof v === "string") {
    if (!contexts.has(v)) throw new ConfigError(path, "must name a context defined in CONTEXTS");
    return { kind: "fixed", context: v };
  }
  if (isObject(v)) {
    const o = object(path, v, ["claim", "allowed"]);
    const claim = claimName(`${path}.claim`, o.claim);
    let allowed: Set<string> | undefined;
    if (o.allowed !== undefined) {
      const list = stringList(`${path}.allowed`, o.allowed, "context names");
      list.forEach((c, i) => {
        if (!contexts.has(c)) throw new ConfigError(`${path}.allowed[${i}]`, "must name a context defined in CONTEXTS");
      });
      allowed = new Set(list);
    }
    return { kind: "claim", claim, allowed };
  }
  throw new ConfigError(path, 'must be a context name or {"claim": "...", "allowed"?: [...]}');
}

function scopeList(path: string, v: unknown): Set<Scope> {
  if (!Array.isArray(v) || v.length === 0) throw new ConfigError(path, `must be a non-empty list of ${SCOPES.join(", ")}`);
  v.forEach((s, i) => {
    if (!(SCOPES as readonly unknown[]).includes(s)) throw new ConfigError(`${path}[${i}]`, `must be one of ${SCOPES.join(", ")}`);
  });
  return new Set(v as Scope[]);
}

function scopesRule(path: string, v: unknown): ScopesRule {
  if (Array.isArray(v)) return { kind: "fixed", scopes: scopeList(path, v) };
  if (isObject(v)) {
    const o = object(path, v, ["claim", "allowed"]);
    const claim = claimName(`${path}.claim`, o.claim);
    // Required: a token must never grant itself a scope the operator did not list.
    if (o.allowed === undefined) throw new ConfigError(`${path}.allowed`, "is required: the scopes a token's claim may grant");
    return { kind: "claim", claim, allowed: scopeList(`${path}.allowed`, o.allowed) };
  }
  throw new ConfigError(path, `must be a list of scopes or {"claim": "scope", "allowed": [...]}`);
}

function grants(path: string, v: unknown, contexts: ReadonlySet<string>): JwtGrant[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 32) throw new ConfigError(path, "must be a list of 1 to 32 grants");
  return v.map((g, i) => {
    const at = `${path}[${i}]`;
    const o = object(at, g, GRANT_KEYS);
    if (o.context === undefined) throw new ConfigError(`${at}.context`, "is required");
    if (o.scopes === undefined) throw new ConfigError(`${at}.scopes`, "is required");
    return { when: conditions(`${at}.when`, o.when), context: contextRule(`${at}.context`, o.context, contexts), scopes: scopesRule(`${at}.scopes`, o.scopes) };
  });
}

function clockTolerance(path: string, v: unknown): number {
  if (v === undefined) return DEFAULT_CLOCK_TOLERANCE;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_CLOCK_TOLERANCE) {
    throw new ConfigError(path, `must be an integer from 0 to ${MAX_CLOCK_TOLERANCE} (seconds)`);
  }
  return v;
}

function staleIfError(path: string, v: unknown): number {
  if (v === undefined) return DEFAULT_JWKS_STALE_IF_ERROR;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX_JWKS_STALE_IF_ERROR) {
    throw new ConfigError(path, `must be an integer from 0 to ${MAX_JWKS_STALE_IF_ERROR} (seconds; 0: never past the 10-minute cache)`);
  }
  return v;
}

/** A media type's subtype as RFC 8725 3.11 uses it: "at+jwt", "JWT", or with "application/". */
function typ(path: string, v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "string" || !/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+/-]{0,63}$/.test(v)) {
    throw new ConfigError(path, 'must be a media type as the tokens\' typ header carries it, e.g. "at+jwt"');
  }
  return v;
}

function jtiReplay(path: string, v: unknown): JtiReplay | undefined {
  if (v === undefined) return undefined;
  if (!(JTI_REPLAY_MODES as readonly unknown[]).includes(v)) {
    throw new ConfigError(path, `must be "isolate" (each jti once per isolate) or "fleet" (once fleet-wide, a Durable Object call per token)`);
  }
  return v as JtiReplay;
}

function parseIssuer(name: string, value: unknown, contexts: ReadonlySet<string>): JwtIssuer {
  const path = `JWT_ISSUERS.${name}`;
  const o = object(path, value, ISSUER_KEYS);
  let preset: Preset | undefined;
  if (o.preset !== undefined) {
    if (!(PRESETS as readonly unknown[]).includes(o.preset)) throw new ConfigError(`${path}.preset`, `must be one of ${PRESETS.join(", ")}`);
    preset = o.preset as Preset;
  }
  // Preset defaults first; explicit fields override them.
  let defaults: { issuer?: string; jwksUrl?: string; algorithms?: JwtAlgorithm[]; header: string } = { header: "authorization" };
  if (preset === "cloudflare-access") {
    if (o.team_domain === undefined) throw new ConfigError(`${path}.team_domain`, "is required with the cloudflare-access preset (e.g. myteam.cloudflareaccess.com)");
    const team = teamDomain(`${path}.team_domain`, o.team_domain);
    // developers.cloudflare.com/cloudflare-one/identity/authorization-cookie/validating-json/
    defaults = { issuer: `https://${team}`, jwksUrl: `https://${team}/cdn-cgi/access/certs`, algorithms: ["RS256"], header: ACCESS_HEADER };
  } else if (o.team_domain !== undefined) {
    throw new ConfigError(`${path}.team_domain`, 'is a setting of the "cloudflare-access" preset only');
  }

  const issuer = o.issuer !== undefined ? nonEmptyString(`${path}.issuer`, o.issuer) : defaults.issuer;
  if (issuer === undefined) throw new ConfigError(`${path}.issuer`, "is required: the exact iss of the tokens");

  if (o.audience === undefined) {
    throw new ConfigError(`${path}.audience`, preset === "cloudflare-access" ? "is required: the Access application's AUD tag" : "is required: the aud the tokens must carry");
  }
  const audience = typeof o.audience === "string" ? [nonEmptyString(`${path}.audience`, o.audience)] : stringList(`${path}.audience`, o.audience, "audiences");

  if (o.jwks !== undefined && o.jwks_url !== undefined) throw new ConfigError(`${path}.jwks`, "give either jwks or jwks_url, not both");
  let keys: KeySource;
  const stale = staleIfError(`${path}.jwks_stale_if_error`, o.jwks_stale_if_error);
  if (o.jwks !== undefined) keys = { kind: "inline", jwks: inlineJwks(`${path}.jwks`, o.jwks) };
  else if (o.jwks_url !== undefined) keys = { kind: "remote", url: jwksUrl(`${path}.jwks_url`, o.jwks_url), staleIfError: stale };
  else if (defaults.jwksUrl !== undefined) keys = { kind: "remote", url: defaults.jwksUrl, staleIfError: stale };
  else throw new ConfigError(`${path}.jwks_url`, "is required (or an inline jwks): where the issuer's public keys are");
  if (keys.kind === "inline" && o.jwks_stale_if_error !== undefined) {
    throw new ConfigError(`${path}.jwks_stale_if_error`, "applies to a jwks_url only: an inline jwks is never fetched");
  }

  const algs = o.algorithms !== undefined ? algorithms(`${path}.algorithms`, o.algorithms) : defaults.algorithms;
  if (algs === undefined) throw new ConfigError(`${path}.algorithms`, `is required: the algorithms the issuer signs with (${JWT_ALGORITHMS.join(", ")})`);

  let header = defaults.header;
  if (o.header !== undefined) {
    if (typeof o.header !== "string" || !HEADER_NAME.test(o.header)) {
      throw new ConfigError(`${path}.header`, `must be a lowercase header name: "authorization" (Bearer) or e.g. "${ACCESS_HEADER}"`);
    }
    header = o.header;
  }

  if (o.grants === undefined) throw new ConfigError(`${path}.grants`, "is required: which context and scopes a token gets");
  return {
    name,
    preset,
    issuer,
    audience,
    keys,
    algorithms: algs,
    header,
    clockTolerance: clockTolerance(`${path}.clock_tolerance`, o.clock_tolerance),
    typ: typ(`${path}.typ`, o.typ),
    jtiReplay: jtiReplay(`${path}.jti_replay`, o.jti_replay),
    grants: grants(`${path}.grants`, o.grants, contexts),
  };
}

/** JWT_ISSUERS to issuers; absent or empty: JWT authentication is off. */
export function parseJwtIssuers(raw: string | undefined, contexts: ReadonlySet<string>): JwtIssuer[] {
  if (raw === undefined || raw.trim() === "") return [];
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch {
    throw new ConfigError("JWT_ISSUERS", "is not valid JSON");
  }
  if (!isObject(obj)) throw new ConfigError("JWT_ISSUERS", "must be a JSON object of name -> issuer");
  const issuers: JwtIssuer[] = [];
  for (const [name, value] of Object.entries(obj)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new ConfigError(`JWT_ISSUERS.${name}`, "an issuer name is 1 to 64 of A-Z a-z 0-9 . _ -");
    const parsed = parseIssuer(name, value, contexts);
    // A token picks its issuer by its iss among those on its header: two would be ambiguous.
    const twin = issuers.find((i) => i.header === parsed.header && i.issuer === parsed.issuer);
    if (twin) throw new ConfigError(`JWT_ISSUERS.${name}.issuer`, `is also JWT_ISSUERS.${twin.name}'s, on the same header: a token could not tell them apart`);
    issuers.push(parsed);
  }
  return issuers;
}
