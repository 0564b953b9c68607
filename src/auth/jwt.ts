/**
 * JWT callers (JWT_ISSUERS, src/auth/issuers.ts): a signed token from a
 * configured issuer, checked with jose against that issuer's public keys, and
 * mapped to one context and a set of scopes by the issuer's grants.
 *
 * Order of checks, each refusal a 401 with its own code (403 for a valid
 * token that no grant admits; 503 when the issuer's keys cannot be had):
 * the compact-JWS shape and a JSON header and claims (token_malformed); the
 * unverified `iss` picks the issuer among those listening on the header
 * (token_issuer_unknown); its alg must be one the issuer is configured with,
 * checked before jose runs (token_algorithm_refused: alg none never gets
 * further); then jose's jwtVerify with the issuer's key set, iss, aud,
 * algorithms, clock tolerance, exp required, and the service's clock as the
 * current time (tests move time; nothing here reads Date.now()), the
 * issuer's `typ` when it sets one (token_type_invalid); then the grants;
 * last, for an issuer with jti_replay, the jti's first use (token_replayed;
 * src/auth/jti.ts).
 *
 * A message names the issuer's setting and the failed check, never the token
 * or a claim's value.
 */
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type FetchImplementation, type JWTPayload, type JWTVerifyGetKey } from "jose";
import type { Caller, Scope } from "./caller.js";
import { ServiceError, type ErrorCode } from "../errors.js";
import type { JwtGrant, JwtIssuer } from "./issuers.js";
import { fleetJtiId, MAX_JTI_LENGTH, UsedJtis, type FleetUseRecord } from "./jti.js";
import { JwksUnavailable, RemoteJwks } from "./remote-jwks.js";

/** jose's fetch for a remote JWKS: tests inject one that serves a key set without network. */
export type JwksFetch = FetchImplementation;

/** Three base64url segments; the last (the signature) may be empty, so that alg none is recognised and refused by name. */
export const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Header values beyond this are refused unread (Access tokens are about 1 KiB; an RS512 one with many claims a few). */
export const MAX_JWT_LENGTH = 16_384;

/** Remote JWKS (src/auth/remote-jwks.ts), as Access recommends: fetch the certs URL, cache it; keys rotate every 6 weeks. */
export const REMOTE_JWKS = {
  /** Milliseconds a fetch may take; the request that waits for it is a caller's. */
  timeoutDuration: 1500,
  /** Milliseconds after a fetch before an unknown kid may trigger another: made-up kids cannot flood the issuer. */
  cooldownDuration: 30_000,
  /** Milliseconds keys are used before they are fetched again. */
  cacheMaxAge: 600_000,
} as const;
/**
 * A verified token is reused, without a second signature check, for at most
 * this long and never past its exp: a JWT caller sends the same token on
 * every request until it renews it, and a signature check (~50-150 us)
 * would otherwise be paid on every ticket open. The price: a key removed
 * from the issuer's JWKS stops its tokens here up to this much later.
 * Never for an issuer with jti_replay: there a second presentation is the
 * replay to refuse, so every one is checked in full.
 */
export const VERIFIED_TOKEN_TTL_MS = 60_000;
/** Most verified tokens remembered per isolate (oldest forgotten first). */
export const VERIFIED_TOKEN_CACHE_SIZE = 4096;

/** Seconds a failed JWKS fetch is not retried (each request would otherwise wait out its own timeout); the Retry-After of jwks_unavailable. */
export const JWKS_RETRY_AFTER = 5;

const CHALLENGE = 'Bearer realm="resumption", error="invalid_token"';

function refuse(code: ErrorCode, message: string): ServiceError {
  return new ServiceError(code, message, code === "token_not_granted" ? {} : { headers: { "www-authenticate": CHALLENGE } });
}

function unavailable(issuer: JwtIssuer): ServiceError {
  return new ServiceError("jwks_unavailable", `the key set of issuer ${issuer.name} cannot be fetched or is invalid`, {
    headers: { "retry-after": String(JWKS_RETRY_AFTER) },
  });
}

export interface JwtVerifierOptions {
  /** Milliseconds since the epoch: the service's clock. */
  clock: () => number;
  /** Fetch for remote key sets (globalThis.fetch by default). */
  fetch?: JwksFetch;
  /** The fleet-wide single-use record, for issuers with jti_replay "fleet" (the replay guard). */
  fleetUses?: FleetUseRecord;
}

interface Entry {
  issuer: JwtIssuer;
  keys: JWTVerifyGetKey;
}

/**
 * The key set of an issuer: jose's local set for an inline JWKS, the cached
 * remote set (src/auth/remote-jwks.ts) for a URL. Whatever goes wrong
 * getting keys, other than "no key for this kid", is jwks_unavailable: the
 * issuer's keys, not the caller's token, are at fault.
 */
function keySet(issuer: JwtIssuer, options: JwtVerifierOptions): JWTVerifyGetKey {
  if (issuer.keys.kind === "inline") return createLocalJWKSet(issuer.keys.jwks as Parameters<typeof createLocalJWKSet>[0]);
  const fetchImpl: JwksFetch = options.fetch ?? ((url, init) => fetch(url, init));
  const remote = new RemoteJwks(issuer.keys.url, fetchImpl, options.clock, {
    timeoutMs: REMOTE_JWKS.timeoutDuration,
    cooldownMs: REMOTE_JWKS.cooldownDuration,
    maxAgeMs: REMOTE_JWKS.cacheMaxAge,
    retryAfterMs: JWKS_RETRY_AFTER * 1000,
    staleIfErrorMs: issuer.keys.staleIfError * 1000,
  });
  return async (header, token) => {
    try {
      return await remote.getKey(header, token);
    } catch (err) {
      throw err instanceof JwksUnavailable ? unavailable(issuer) : err;
    }
  };
}

/** jose's refusal to one of ours. Anything else (not jose's) is rethrown: a fault, not a bad token. */
function mapJoseError(err: unknown, issuer: JwtIssuer): unknown {
  if (err instanceof ServiceError) return err;
  const name = issuer.name;
  if (err instanceof errors.JWTExpired) return refuse("token_expired", `the token has expired (issuer ${name}, clock tolerance ${issuer.clockTolerance} s)`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    // jose names the claim from its own fixed list (exp, nbf, iat, aud, iss, sub, typ): no token text.
    const claim = err.claim;
    if (claim === "nbf" && err.reason === "check_failed") return refuse("token_not_yet_valid", `the token is not valid yet (nbf; issuer ${name}, clock tolerance ${issuer.clockTolerance} s)`);
    if (claim === "aud") return refuse("token_audience_invalid", `the token's aud is not an audience of issuer ${name}`);
    if (claim === "iss") return refuse("token_issuer_unknown", "the token's iss is not a configured issuer");
    if (claim === "typ") return refuse("token_type_invalid", `the token's typ header is not ${issuer.typ} (issuer ${name})`);
    const what = err.reason === "missing" ? "is missing" : "is invalid";
    const extra = claim === "exp" && err.reason === "missing" ? " (a JWT without exp would be a permanent credential)" : "";
    return refuse("token_claims_invalid", `the token's ${claim} claim ${what}${extra}`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return refuse("token_algorithm_refused", `issuer ${name} accepts ${issuer.algorithms.join(", ")} only`);
  }
  if (err instanceof errors.JWKSNoMatchingKey) return refuse("token_key_unknown", `no key of issuer ${name} matches the token's kid and alg`);
  if (err instanceof errors.JWKSMultipleMatchingKeys) return refuse("token_key_unknown", `several keys of issuer ${name} match: the token must name its key with kid`);
  if (err instanceof errors.JWSSignatureVerificationFailed) return refuse("token_signature_invalid", `the token's signature does not verify with issuer ${name}'s key`);
  if (err instanceof errors.JOSEError) return refuse("token_malformed", "the token is not a well-formed JWT");
  return err;
}

function claimMatches(value: unknown, anyOf: readonly unknown[]): boolean {
  if (Array.isArray(value)) return value.some((v) => anyOf.includes(v));
  return anyOf.includes(value);
}

/** The grant's context and scopes for these (verified) claims, or why there are none. */
function applyGrant(grant: JwtGrant, claims: JWTPayload, contexts: ReadonlySet<string>): { context: string; scopes: Set<Scope> } | string {
  let context: string;
  if (grant.context.kind === "fixed") {
    context = grant.context.context;
  } else {
    const value = claims[grant.context.claim];
    if (typeof value !== "string" || !contexts.has(value) || (grant.context.allowed && !grant.context.allowed.has(value))) {
      return `its ${grant.context.claim} claim names no context it may act in`;
    }
    context = value;
  }
  let scopes: Set<Scope>;
  if (grant.scopes.kind === "fixed") {
    scopes = new Set(grant.scopes.scopes);
  } else {
    const value = claims[grant.scopes.claim];
    const asked = typeof value === "string" ? value.split(" ") : Array.isArray(value) ? value : [];
    const allowed = grant.scopes.allowed;
    scopes = new Set(asked.filter((s): s is Scope => typeof s === "string" && allowed.has(s as Scope)));
    if (scopes.size === 0) return `its ${grant.scopes.claim} claim holds none of the scopes it may be granted`;
  }
  return { context, scopes };
}

export class JwtVerifier {
  /** header -> iss -> issuer and key set. */
  private readonly byHeader = new Map<string, Map<string, Entry>>();
  /** Headers other than Authorization that some issuer listens on, in the order of JWT_ISSUERS. */
  readonly otherHeaders: readonly string[];
  /**
   * "header token" -> the caller it was verified as, and the window (ms,
   * service clock) in which that holds: from the check (nbf and iat only get
   * truer as time passes; a clock set back is checked afresh) until exp or
   * the TTL. Successes only.
   */
  private readonly verified = new Map<string, { caller: Caller; from: number; until: number }>();
  /** jtis of jti_replay issuers used in this isolate. */
  private readonly usedJtis = new UsedJtis();

  constructor(
    issuers: readonly JwtIssuer[],
    private readonly contexts: ReadonlySet<string>,
    private readonly options: JwtVerifierOptions,
  ) {
    for (const issuer of issuers) {
      let onHeader = this.byHeader.get(issuer.header);
      if (!onHeader) this.byHeader.set(issuer.header, (onHeader = new Map<string, Entry>()));
      onHeader.set(issuer.issuer, { issuer, keys: keySet(issuer, options) });
    }
    this.otherHeaders = [...this.byHeader.keys()].filter((h) => h !== "authorization");
  }

  listensOn(header: string): boolean {
    return this.byHeader.has(header);
  }

  /** The caller a JWT from `header` stands for; a ServiceError with a token_* code (or jwks_unavailable) otherwise. */
  async verify(token: string, header: string): Promise<Caller> {
    if (token.length > MAX_JWT_LENGTH || !COMPACT_JWS.test(token)) {
      throw refuse("token_malformed", "the token is not a compact JWS (three base64url segments)");
    }
    const cacheKey = `${header} ${token}`;
    const nowMs = this.options.clock();
    const known = this.verified.get(cacheKey);
    if (known) {
      if (nowMs >= known.from && nowMs < known.until) return known.caller;
      this.verified.delete(cacheKey);
    }
    const { caller, exp, once } = await this.check(token, header, nowMs);
    const until = Math.min(exp * 1000, nowMs + VERIFIED_TOKEN_TTL_MS);
    if (until > nowMs && !once) {
      if (this.verified.size >= VERIFIED_TOKEN_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(cacheKey, { caller, from: nowMs, until });
    }
    return caller;
  }

  /** The full check of a token: issuer, algorithm, signature, claims, grants. */
  private async check(token: string, header: string, nowMs: number): Promise<{ caller: Caller; exp: number; once: boolean }> {
    let alg: unknown;
    let iss: unknown;
    try {
      alg = decodeProtectedHeader(token).alg;
      iss = decodeJwt(token).iss;
    } catch {
      throw refuse("token_malformed", "the token's header or claims are not base64url JSON objects");
    }
    const entry = typeof iss === "string" ? this.byHeader.get(header)?.get(iss) : undefined;
    if (!entry) {
      throw refuse("token_issuer_unknown", typeof iss === "string" ? "the token's iss is not an issuer configured for this header" : "the token has no iss claim");
    }
    const { issuer } = entry;
    if (typeof alg !== "string" || !(issuer.algorithms as readonly string[]).includes(alg)) {
      throw refuse(
        "token_algorithm_refused",
        alg === "none" ? "unsigned tokens (alg none) are never accepted" : `issuer ${issuer.name} accepts ${issuer.algorithms.join(", ")} only`,
      );
    }
    let claims: JWTPayload;
    try {
      ({ payload: claims } = await jwtVerify(token, entry.keys, {
        issuer: issuer.issuer,
        audience: [...issuer.audience],
        algorithms: [...issuer.algorithms],
        clockTolerance: issuer.clockTolerance,
        currentDate: new Date(nowMs),
        requiredClaims: issuer.jtiReplay ? ["exp", "jti"] : ["exp"],
        ...(issuer.typ !== undefined && { typ: issuer.typ }),
      }));
    } catch (err) {
      throw mapJoseError(err, issuer);
    }
    // jose checks iat only with maxTokenAge: a token issued in the future is not valid yet either.
    if (typeof claims.iat === "number" && claims.iat > Math.floor(nowMs / 1000) + issuer.clockTolerance) {
      throw refuse("token_not_yet_valid", `the token is not valid yet (iat; issuer ${issuer.name}, clock tolerance ${issuer.clockTolerance} s)`);
    }
    for (const [i, grant] of issuer.grants.entries()) {
      if (!grant.when.every((c) => claimMatches(claims[c.claim], c.anyOf))) continue;
      // The first grant whose conditions hold decides.
      const granted = applyGrant(grant, claims, this.contexts);
      if (typeof granted === "string") throw refuse("token_not_granted", `JWT_ISSUERS.${issuer.name}.grants[${i}] applies, but ${granted}`);
      // requiredClaims makes jose refuse a token without a numeric exp.
      const exp = claims.exp!;
      if (issuer.jtiReplay) await this.useJti(issuer, claims.jti, exp, nowMs);
      return { caller: { context: granted.context, scopes: granted.scopes, via: `jwt:${issuer.name}` }, exp, once: issuer.jtiReplay !== undefined };
    }
    throw refuse("token_not_granted", `the token matches none of JWT_ISSUERS.${issuer.name}.grants`);
  }

  /**
   * The jti's first use, or a refusal (src/auth/jti.ts). Remembered until
   * exp plus the tolerance: until then the token would still be accepted.
   */
  private async useJti(issuer: JwtIssuer, jti: unknown, exp: number, nowMs: number): Promise<void> {
    if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_LENGTH) {
      throw refuse("token_claims_invalid", `the token's jti claim is invalid (issuer ${issuer.name} refuses replays by jti: a string of 1 to ${MAX_JTI_LENGTH} characters)`);
    }
    const expiresAt = exp + issuer.clockTolerance;
    const key = `${issuer.name}\n${jti}`;
    const local = this.usedJtis.use(key, expiresAt * 1000, nowMs);
    if (local === "replayed") throw refuse("token_replayed", `the token's jti was already used (issuer ${issuer.name})`);
    if (local === "full") {
      throw new ServiceError("replay_guard_unavailable", `this isolate remembers too many unexpired JWT ids to accept another of issuer ${issuer.name}; retry`, {
        headers: { "retry-after": "1" },
      });
    }
    if (issuer.jtiReplay !== "fleet") return;
    const fleet = this.options.fleetUses;
    let first: boolean;
    try {
      if (!fleet) throw new Error("no fleet-wide record");
      first = await fleet.consume(await fleetJtiId(issuer.name, jti), expiresAt, Math.floor(nowMs / 1000));
    } catch {
      // Not used after all: a retry of this very token is judged afresh.
      this.usedJtis.forget(key);
      throw new ServiceError("replay_guard_unavailable", `the fleet-wide record of used JWT ids cannot be reached (issuer ${issuer.name}); the token is refused, never accepted twice`, {
        headers: { "retry-after": "1" },
      });
    }
    if (!first) throw refuse("token_replayed", `the token's jti was already used elsewhere in the fleet (issuer ${issuer.name})`);
  }
}
