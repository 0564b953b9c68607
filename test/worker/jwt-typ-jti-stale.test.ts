/**
 * JWT callers' last gaps (src/auth/): an issuer's `typ` (e.g. at+jwt), the
 * refusal of a jti's second use (jti_replay: per isolate or fleet-wide),
 * and stale-if-error for a remote JWKS (jwks_stale_if_error). Time is the
 * injected clock; no network, no sleeping.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app.js";
import { UsedJtis } from "../../src/auth/jti.js";
import type { JwksFetch } from "../../src/auth/jwt.js";
import type { Env } from "../../src/env.js";
import { T0, noNetwork, testRingName } from "./harness.js";
import { ISSUERS, KEYS, publicJwk, sign, tampered } from "./jwt-fixtures.js";

interface Site {
  /** Unix seconds. */
  now: number;
  call(token: string): Promise<{ status: number; code: string | undefined; headers: Headers }>;
}

/** One isolate: an app with these issuers, its own caches, the clock the test moves. */
function site(issuers: object, options: { fetch?: JwksFetch; env?: Partial<Env>; start?: number } = {}): Site {
  const s = { now: options.start ?? T0 } as Site;
  const app = createApp({ clock: () => s.now * 1000, ringName: testRingName(), jwksFetch: options.fetch ?? noNetwork, writeLog: () => {} });
  const bindings = { ...(env as unknown as Env), JWT_ISSUERS: JSON.stringify(issuers), ...options.env };
  s.call = async (token) => {
    const res = await app.request("/v1/keys", { headers: { authorization: `Bearer ${token}` } }, bindings);
    const body = (await res.json()) as { error?: { code: string } };
    return { status: res.status, code: body.error?.code, headers: res.headers };
  };
  return s;
}

const ok = { status: 200, code: undefined };
const brief = (r: { status: number; code: string | undefined }) => ({ status: r.status, code: r.code });

describe("typ: an issuer that sets one refuses tokens of another type", () => {
  const issuers = { typed: ISSUERS.typed, mesh: ISSUERS.mesh };

  it("accepts at+jwt however it is spelled, refuses JWT or none", async () => {
    const s = site(issuers);
    for (const typ of ["at+jwt", "application/at+jwt", "AT+JWT"]) {
      expect(brief(await s.call(await sign({}, { key: "typed", typ }))), typ).toEqual(ok);
    }
    for (const typ of ["JWT", "jwt", "at+jwt+x", null]) {
      const res = await s.call(await sign({}, { key: "typed", typ }));
      expect(brief(res), String(typ)).toEqual({ status: 401, code: "token_type_invalid" });
      expect(res.headers.get("www-authenticate")).toBe('Bearer realm="resumption", error="invalid_token"');
    }
  });

  it("checks nothing for an issuer without typ", async () => {
    const s = site(issuers);
    for (const typ of ["JWT", "at+jwt", null]) expect(brief(await s.call(await sign({ sub: "edge-admin" }, { typ }))), String(typ)).toEqual(ok);
  });

  it("checks the signature first: a forged token of the wrong type is a bad signature", async () => {
    const forged = tampered(await sign({}, { key: "typed", typ: "JWT" }), { sub: "someone-else" });
    expect(brief(await site(issuers).call(forged))).toEqual({ status: 401, code: "token_signature_invalid" });
  });
});

describe("jti_replay: isolate", () => {
  const issuers = { once: { ...ISSUERS.once, jti_replay: "isolate" } };

  it("accepts a token once per isolate, checking its signature every time (never the verified-token cache)", async () => {
    const s = site(issuers);
    const token = await sign({}, { key: "once" });
    const verify = vi.spyOn(crypto.subtle, "verify");
    try {
      expect(brief(await s.call(token))).toEqual(ok);
      const again = await s.call(token);
      expect(brief(again)).toEqual({ status: 401, code: "token_replayed" });
      expect(again.headers.get("www-authenticate")).toContain("invalid_token");
      expect(verify).toHaveBeenCalledTimes(2);
      // Still refused later in its life, and refused as expired once it is over.
      s.now = T0 + 3600;
      expect((await s.call(token)).code).toBe("token_replayed");
      s.now = T0 + 3600 + 31;
      expect((await s.call(token)).code).toBe("token_expired");
    } finally {
      verify.mockRestore();
    }
    // Another token (another jti) is its own first use.
    expect(brief(await site(issuers).call(await sign({}, { key: "once" })))).toEqual(ok);
  });

  it("is per isolate: another isolate accepts the same token once (the limit of this mode)", async () => {
    const token = await sign({}, { key: "once" });
    const a = site(issuers);
    const b = site(issuers);
    expect(brief(await a.call(token))).toEqual(ok);
    expect(brief(await b.call(token))).toEqual(ok);
    expect((await b.call(token)).code).toBe("token_replayed");
  });

  it("lets exactly one of two concurrent uses in an isolate through", async () => {
    const s = site(issuers);
    const token = await sign({}, { key: "once" });
    const results = await Promise.all([s.call(token), s.call(token), s.call(token)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  it("records a jti only for a token that passed every check: a forgery does not use up a real one's jti", async () => {
    const s = site(issuers);
    const jti = crypto.randomUUID();
    const genuine = await sign({ jti }, { key: "once" });
    expect((await s.call(tampered(genuine, { sub: "edge-admin" }))).code).toBe("token_signature_invalid");
    expect(brief(await s.call(genuine))).toEqual(ok);
  });

  it("requires a jti: a string of 1 to 256 characters", async () => {
    const s = site(issuers);
    for (const jti of [undefined, 42, "", "x".repeat(257), ["a"]]) {
      expect((await s.call(await sign({ jti }, { key: "once" }))).code, JSON.stringify(jti)).toBe("token_claims_invalid");
    }
    expect(brief(await s.call(await sign({ jti: "x".repeat(256) }, { key: "once" })))).toEqual(ok);
  });

  it("keeps issuers apart: the same jti from two issuers is two first uses", async () => {
    const both = { once: issuers.once, twice: { ...issuers.once, issuer: "https://twice.test" } };
    const s = site(both);
    const jti = crypto.randomUUID();
    expect(brief(await s.call(await sign({ jti }, { key: "once" })))).toEqual(ok);
    expect(brief(await s.call(await sign({ jti, iss: "https://twice.test" }, { key: "once" })))).toEqual(ok);
  });
});

describe("jti_replay: fleet", () => {
  const issuers = { once: ISSUERS.once };

  it("refuses a token at every other isolate once one has accepted it", async () => {
    const token = await sign({}, { key: "once" });
    const [a, b, c] = [site(issuers), site(issuers), site(issuers)];
    expect(brief(await a.call(token))).toEqual(ok);
    expect(brief(await b.call(token))).toEqual({ status: 401, code: "token_replayed" });
    expect((await c.call(token)).code).toBe("token_replayed");
    // Concurrent first uses at different isolates: the Durable Object lets one through.
    const fresh = await sign({}, { key: "once" });
    const results = await Promise.all([site(issuers).call(fresh), site(issuers).call(fresh), site(issuers).call(fresh)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 401, 401]);
  });

  it("refuses with 503 when the record cannot be reached, and judges the same token afresh once it can", async () => {
    let down = true;
    const guard = {
      idFromName: (name: string) => env.REPLAY_GUARD.idFromName(name),
      get: (id: DurableObjectId) => (down ? { consume: () => Promise.reject(new Error("unreachable")) } : env.REPLAY_GUARD.get(id)),
    } as unknown as Env["REPLAY_GUARD"];
    const s = site(issuers, { env: { REPLAY_GUARD: guard } });
    const token = await sign({}, { key: "once" });
    const refused = await s.call(token);
    expect(brief(refused)).toEqual({ status: 503, code: "replay_guard_unavailable" });
    expect(refused.headers.get("retry-after")).toBe("1");
    down = false;
    expect(brief(await s.call(token))).toEqual(ok);
    expect((await s.call(token)).code).toBe("token_replayed");
  });
});

describe("UsedJtis: an isolate's memory", () => {
  it("remembers until the given time, then forgets", () => {
    const used = new UsedJtis();
    expect(used.use("i\na", 2000, 1000)).toBe("first");
    expect(used.use("i\na", 2000, 1999)).toBe("replayed");
    expect(used.use("i\na", 3000, 2000)).toBe("first");
  });

  it("refuses a new jti when full of live ones, and sweeps expired ones to make room", () => {
    const used = new UsedJtis(2);
    expect(used.use("a", 5000, 0)).toBe("first");
    expect(used.use("b", 9000, 0)).toBe("first");
    // Never evicts a live entry: that would let its token be replayed.
    expect(used.use("c", 9000, 1000)).toBe("full");
    expect(used.use("a", 5000, 1000)).toBe("replayed");
    expect(used.use("c", 9000, 5000)).toBe("first");
    expect(used.size).toBe(2);
  });
});

describe("jwks_stale_if_error: a remote key set outlives a failing endpoint, within a bound", () => {
  const HOUR = 3600;
  /** A JWKS endpoint serving the remote issuer's keys, which the test can take down. */
  function endpoint() {
    const keys = [publicJwk(KEYS.remote, "remote-1", "ES256")];
    const e = {
      fetches: 0,
      down: false,
      fetch: (async () => {
        e.fetches++;
        if (e.down) throw new TypeError("connection refused");
        return Response.json({ keys: await Promise.all(keys) });
      }) as JwksFetch,
      publish: (key: ReturnType<typeof publicJwk>) => keys.push(key),
    };
    return e;
  }
  /** A fresh token of the remote issuer, issued now (each is a new string: the verified-token cache never answers). */
  const token = (s: Site, key: "remote" | "remoteNext" = "remote") => sign({ jti: crypto.randomUUID() }, { key, iat: s.now });

  it("keeps verifying with the last good set for 24 h by default, then answers jwks_unavailable", async () => {
    const jwks = endpoint();
    const s = site({ remote: ISSUERS.remote }, { fetch: jwks.fetch });
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    expect(jwks.fetches).toBe(1);

    jwks.down = true;
    // Past the 10-minute cache: a fetch is tried, fails, and the stale set answers.
    s.now = T0 + 601;
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    expect(jwks.fetches).toBe(2);
    // Meanwhile no fetch for Retry-After (5 s): stale answers at once.
    s.now += 4;
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    expect(jwks.fetches).toBe(2);
    // Hours on, still within a day of the last good fetch.
    s.now = T0 + 24 * HOUR - 1;
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    expect(jwks.fetches).toBe(3);
    // A day after it: the keys are too old to trust.
    s.now = T0 + 24 * HOUR;
    const res = await s.call(await token(s));
    expect(brief(res)).toEqual({ status: 503, code: "jwks_unavailable" });
    expect(res.headers.get("retry-after")).toBe("5");

    // The endpoint is back: fresh keys, and a new day of grace from now.
    jwks.down = false;
    s.now += 5;
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    jwks.down = true;
    s.now += 23 * HOUR;
    expect(brief(await s.call(await token(s)))).toEqual(ok);
  });

  it("answers jwks_unavailable, not token_key_unknown, for a kid the stale set lacks", async () => {
    const jwks = endpoint();
    const s = site({ remote: ISSUERS.remote }, { fetch: jwks.fetch });
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    // The issuer rotates, but its endpoint is down: the new key may be genuine; this isolate cannot tell.
    jwks.publish(publicJwk(KEYS.remoteNext, "remote-2", "ES256"));
    jwks.down = true;
    s.now = T0 + HOUR;
    expect(brief(await s.call(await token(s, "remoteNext")))).toEqual({ status: 503, code: "jwks_unavailable" });
    // A token signed with a key the issuer never published, claiming a known kid, still fails its signature.
    const forged = await sign({ iss: ISSUERS.remote.issuer, jti: crypto.randomUUID() }, { key: "stranger", kid: "remote-1", iat: s.now });
    expect((await s.call(forged)).code).toBe("token_signature_invalid");
    jwks.down = false;
    s.now += 5;
    expect(brief(await s.call(await token(s, "remoteNext")))).toEqual(ok);
  });

  it("takes the bound from the issuer: 0 serves nothing past the 10-minute cache", async () => {
    const jwks = endpoint();
    const s = site({ remote: { ...ISSUERS.remote, jwks_stale_if_error: 0 } }, { fetch: jwks.fetch });
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    jwks.down = true;
    s.now = T0 + 599;
    expect(brief(await s.call(await token(s)))).toEqual(ok);
    s.now = T0 + 600;
    expect(brief(await s.call(await token(s)))).toEqual({ status: 503, code: "jwks_unavailable" });

    const hour = site({ remote: { ...ISSUERS.remote, jwks_stale_if_error: 3600 } }, { fetch: endpoint().fetch });
    expect(brief(await hour.call(await token(hour)))).toEqual(ok);
    hour.now = T0 + 3599;
    expect(brief(await hour.call(await token(hour)))).toEqual(ok);
  });

  it("never serves a set stale that was not fetched: the first fetch failing is jwks_unavailable", async () => {
    const jwks = endpoint();
    jwks.down = true;
    const s = site({ remote: ISSUERS.remote }, { fetch: jwks.fetch });
    expect(brief(await s.call(await token(s)))).toEqual({ status: 503, code: "jwks_unavailable" });
  });
});
