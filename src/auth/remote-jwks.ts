/**
 * An issuer's remote JWKS (jwks_url), cached per isolate on the service's
 * clock, with stale-if-error: keys fetched within the issuer's
 * jwks_stale_if_error bound keep verifying while the endpoint fails.
 *
 * - Fresh for REMOTE_JWKS.cacheMaxAge after a successful fetch; then the
 *   next token that needs the keys fetches them again (and waits for it).
 * - A kid the fresh set lacks fetches again, at most once per cooldown
 *   (made-up kids cannot flood the issuer).
 * - A failed fetch (unreachable, timeout, not 200, not JSON, not a key set,
 *   too large) is not retried for JWKS_RETRY_AFTER seconds: each request
 *   would otherwise wait out its own timeout.
 * - Past the cache age, if the fetch fails: the last good set, while it is
 *   younger than the stale bound. A kid it lacks is then jwks_unavailable,
 *   not token_key_unknown: the issuer may have published a key this
 *   isolate has not seen. Past the bound, or with no set at all:
 *   jwks_unavailable.
 *
 * Our own rather than jose's createRemoteJWKSet: jose times its cache with
 * Date.now() and forgets the old set when a refresh fails; here every time
 * is the service's clock (tests move it) and the old set is kept. jose's
 * createLocalJWKSet still does the key selection (kid, alg, kty, use).
 *
 * Fetches are not shared between requests: in Workers a promise started by
 * one request must not be awaited by another (jose makes the same choice).
 */
import { createLocalJWKSet, errors, type FetchImplementation, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";

export interface RemoteJwksSettings {
  /** Milliseconds a fetch may take; the request that waits for it is a caller's. */
  timeoutMs: number;
  /** Milliseconds after a fetch before an unknown kid may trigger another. */
  cooldownMs: number;
  /** Milliseconds a fetched set is used before it is fetched again. */
  maxAgeMs: number;
  /** Milliseconds after a failed fetch before the next is tried. */
  retryAfterMs: number;
  /** Milliseconds after its fetch a set keeps verifying while the endpoint fails; 0: never past maxAgeMs. */
  staleIfErrorMs: number;
}

/** A JWKS document larger than this is refused (Access's certs are about 3 KiB). */
export const MAX_JWKS_BYTES = 256 * 1024;

/** Why the keys cannot be had: the verifier turns it into jwks_unavailable. */
export class JwksUnavailable extends Error {
  override readonly name = "JwksUnavailable";
}

interface KeySet {
  resolve: JWTVerifyGetKey;
  /** Service clock, ms. */
  fetchedAt: number;
}

export class RemoteJwks {
  private current: KeySet | undefined;
  /** Service clock, ms: no fetch before this (after a failure). */
  private retryAt = -Infinity;
  /** How many fetches were started; the status of the set for tests and diagnostics. */
  fetches = 0;

  constructor(
    private readonly url: string,
    private readonly fetchImpl: FetchImplementation,
    private readonly clock: () => number,
    private readonly settings: RemoteJwksSettings,
  ) {}

  /** jose's key resolver: the key for a token's header, or JWKSNoMatchingKey, or JwksUnavailable. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = this.clock();
    let set = this.current;
    if (!set || now >= set.fetchedAt + this.settings.maxAgeMs) {
      const fetched = await this.refresh(now);
      if (!fetched) {
        if (!set || now >= set.fetchedAt + this.settings.staleIfErrorMs) throw new JwksUnavailable(`the key set at ${this.url} cannot be fetched`);
        // Stale: a kid it lacks may be a key published since, which this isolate cannot see.
        return this.resolveStale(set, header, token);
      }
      set = fetched;
    }
    try {
      return await set.resolve(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || now < set.fetchedAt + this.settings.cooldownMs) throw err;
      const fetched = await this.refresh(now);
      // The endpoint fails just when a new kid shows up: whether it is the issuer's cannot be told.
      if (!fetched) throw new JwksUnavailable(`the key set at ${this.url} cannot be fetched to look for a new key`);
      return fetched.resolve(header, token);
    }
  };

  private async resolveStale(set: KeySet, header: Parameters<JWTVerifyGetKey>[0], token: Parameters<JWTVerifyGetKey>[1]) {
    try {
      return await set.resolve(header, token);
    } catch (err) {
      if (err instanceof errors.JWKSNoMatchingKey) throw new JwksUnavailable(`no key of the stale set at ${this.url} matches, and the set cannot be fetched`);
      throw err;
    }
  }

  /** Fetches the set unless backing off; the new set, or undefined on any failure. */
  private async refresh(now: number): Promise<KeySet | undefined> {
    if (now < this.retryAt) return undefined;
    this.fetches++;
    try {
      const res = await this.fetchImpl(this.url, {
        method: "GET",
        redirect: "manual",
        headers: new Headers({ accept: "application/json, application/jwk-set+json" }),
        signal: AbortSignal.timeout(this.settings.timeoutMs),
      });
      if (res.status !== 200) {
        void res.body?.cancel().catch(() => {});
        throw new Error(`HTTP ${res.status}`);
      }
      const text = await res.text();
      if (text.length > MAX_JWKS_BYTES) throw new Error("too large");
      // createLocalJWKSet refuses anything that is not {"keys": [...]}.
      const set: KeySet = { resolve: createLocalJWKSet(JSON.parse(text) as JSONWebKeySet), fetchedAt: this.clock() };
      this.current = set;
      return set;
    } catch {
      // Not extended while backing off: the next try comes retryAfterMs after this failure.
      this.retryAt = this.clock() + this.settings.retryAfterMs;
      return undefined;
    }
  }
}
