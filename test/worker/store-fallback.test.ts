/**
 * The store fallback of POST /v1/tickets/open, attacked as an outsider
 * would with a `tickets`-scope token: a ticket's clear header (key id,
 * lookup id, nonce; a JWE's kid and sid) is not a credential. The fallback
 * answers only the exact ticket a `store: true` seal stored a copy for, only
 * once a revoke destroyed its key, and a single-use ticket opens once in
 * total, whatever is rewritten in its clear parts. A ticket that does not
 * open costs at most one AES-GCM decryption, however many contexts exist.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { decodeBase64url, decodeHex, encodeBase64url, parseSession, parseTicketHeader, sealTicket, utf8 } from "../../src/core/index.js";
import { storageKey } from "../../src/store/external.js";
import { ticketName } from "../../src/tickets/identity.js";
import { TEST_CONTEXTS } from "./fixtures.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

let counter = 0;
/** A session id no other test of this file uses. */
const uid = () => (++counter).toString(16).padStart(8, "0") + "5eed".repeat(6);

const seal = async (loc: Location, body: object) => {
  const res = await loc.json("POST", "/v1/tickets", { token: "alpha-all", body });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { ticket: string; session_id: string; key_id: number; expires_at: number };
};
/** Opened with the tickets scope only: what every terminator's token holds. */
const open = (loc: Location, ticket: string) => loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket } });
const revoke = async (loc: Location) => {
  const res = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
  expect(res.status).toBe(200);
  return res.body.revoked as number[];
};

/** A v1 binary ticket from its parts: any body and tag, as an attacker writes one. */
function binaryTicket(keyId: number, lookupId: Uint8Array | undefined, nonce: Uint8Array, body = new Uint8Array(40)): string {
  const lookup = lookupId ?? new Uint8Array(0);
  return encodeBase64url(new Uint8Array([1, keyId >>> 16, (keyId >>> 8) & 255, keyId & 255, lookup.length, ...lookup, ...nonce, ...body]));
}

/** A compact JWE ticket with this protected header and the other segments of `like` (or meaningless ones). */
function jweTicket(header: object, like?: string): string {
  const rest = like ? like.split(".").slice(1) : ["", "A".repeat(16), "A".repeat(22), "A".repeat(22)];
  return [encodeBase64url(utf8.encode(JSON.stringify(header))), ...rest].join(".");
}
const jweHeader = (ticket: string) => JSON.parse(utf8.decode(decodeBase64url(ticket.split(".")[0]!)!)) as Record<string, unknown>;

/** Every rewrite an attacker can make of a binary ticket's clear parts, keeping it well-formed. */
function binaryRewrites(ticket: string, count: number): string[] {
  const bytes = decodeBase64url(ticket)!;
  const header = parseTicketHeader(bytes);
  const out = new Set<string>();
  for (let i = 0; out.size < count; i++) {
    const b = bytes.slice();
    const region = i % 3;
    if (region === 0) b[1 + ((i >> 2) % 3)]! ^= 1 << ((i >> 4) % 8); // key id
    else if (region === 1) b[5 + ((i >> 2) % header.lookupId!.length)]! ^= 1 << ((i >> 4) % 8); // lookup id
    else b[header.headerLength - 12 + ((i >> 2) % 12)]! ^= 1 << ((i >> 4) % 8); // nonce
    out.add(encodeBase64url(b));
  }
  return [...out];
}

/** Rewrites of a JWE ticket's protected header: other kids, the same kid re-encoded, another sid. */
function jweRewrites(ticket: string, count: number): string[] {
  const h = jweHeader(ticket);
  const out = new Set<string>();
  for (let i = 0; out.size < count; i++) {
    const kid = i % 2 === 0 ? String((Number(h.kid) + 1 + i) % 0xffffff) : (h.kid as string);
    // Members reordered: the same claims, other bytes.
    const rewritten = i % 3 === 0 ? { ...h, kid } : i % 3 === 1 ? { sid: h.sid, kid, enc: h.enc, alg: h.alg, ctx: h.ctx, iat: h.iat, exp: h.exp } : { ...h, kid, sid: (h.sid as string).replace(/^../, (i & 255).toString(16).padStart(2, "0")) };
    const t = jweTicket(rewritten, ticket);
    if (t !== ticket) out.add(t);
  }
  return [...out];
}

const noSecretIn = (res: { body: unknown }) => expect(JSON.stringify(res.body)).not.toContain(TLS12_SESSION.master_secret);

describe("the store fallback", () => {
  it("answers the exact ticket a store: true seal kept a copy for, once a revoke destroyed its key, in any location", async () => {
    for (const format of ["binary", "jwe"] as const) {
      const loc = location();
      const id = uid();
      const sealed = await seal(loc, { session: { ...TLS12_SESSION, session_id: id }, store: true, format });
      const plain = await seal(loc, { session: TLS12_SESSION, format });
      // The copy is the ticket's own: the session-id store has nothing under the id.
      expect((await loc.json("GET", `/v1/sessions/${id}`, { token: "alpha-all" })).status).toBe(404);
      // While the key lives, the ticket opens by itself.
      expect((await open(loc, sealed.ticket)).body.source).toBe("ticket");

      loc.now = T0 + 5;
      expect(await revoke(loc)).toContain(sealed.key_id);
      const opened = await open(loc, sealed.ticket);
      expect([opened.status, opened.body.error?.code]).toEqual([200, undefined]);
      expect(opened.body).toMatchObject({
        source: "store",
        renew: true,
        format,
        key_id: sealed.key_id,
        session_id: id,
        issued_at: T0,
        expires_at: sealed.expires_at,
        single_use: false,
        session: { master_secret: TLS12_SESSION.master_secret },
      });
      // Another location, with nothing cached, reads the same copy from KV.
      const other = await open(location(T0 + 6), sealed.ticket);
      expect([other.status, other.body.source]).toEqual([200, "store"]);
      // A ticket without a lookup id has nothing to fall back on.
      expect((await open(loc, plain.ticket)).body.error.code).toBe("key_unknown");
      // Past the ticket's expiry, neither does this one.
      loc.now = sealed.expires_at;
      expect((await open(loc, sealed.ticket)).body.error.code).toBe("key_unknown");
    }
  });

  it("gives a forged ticket naming any stored session id a 422 and no session", async () => {
    const loc = location();
    // Victims stored every way there is: PUT, POST (a generated id), and a store: true seal.
    const putId = uid();
    expect((await loc.json("PUT", `/v1/sessions/${putId}`, { token: "alpha-all", body: { session: TLS12_SESSION } })).status).toBe(201);
    const posted = await loc.json("POST", "/v1/sessions", { token: "alpha-all", body: { session: TLS12_SESSION } });
    expect(posted.status).toBe(201);
    const storeId = uid();
    const genuine = await seal(loc, { session: { ...TLS12_SESSION, session_id: storeId }, store: true });
    const genuineJwe = await seal(loc, { session: { ...TLS12_SESSION, session_id: uid() }, store: true, format: "jwe" });
    loc.now = T0 + 2;
    const [revokedId] = await revoke(loc);
    expect(revokedId).toBe(genuine.key_id);
    const genuineHeader = parseTicketHeader(decodeBase64url(genuine.ticket)!);

    const forged: [string, string][] = [];
    for (const victim of [putId, posted.body.session_id as string, storeId]) {
      const lookup = decodeHex(victim)!;
      for (const keyId of [0xfffffe, revokedId!]) {
        forged.push([`binary, key ${keyId}, victim ${victim}`, binaryTicket(keyId, lookup, crypto.getRandomValues(new Uint8Array(12)))]);
        forged.push([`jwe, kid ${keyId}, sid ${victim}`, jweTicket({ alg: "dir", enc: "A256GCM", kid: String(keyId), ctx: "alpha", iat: T0, exp: T0 + 3600, sid: victim })]);
      }
    }
    // The genuine store ticket's own key id and nonce (its copy exists under them), with any other bytes.
    forged.push(["binary, the genuine identity, another body", binaryTicket(revokedId!, genuineHeader.lookupId, genuineHeader.nonce)]);
    forged.push(["binary, the genuine identity, another lookup id", binaryTicket(revokedId!, decodeHex(putId), genuineHeader.nonce, decodeBase64url(genuine.ticket)!.subarray(genuineHeader.headerLength))]);
    const h = jweHeader(genuineJwe.ticket);
    forged.push(["jwe, the genuine identity, another sid", jweTicket({ ...h, sid: putId }, genuineJwe.ticket)]);
    forged.push(["jwe, the genuine header, other content", [...genuineJwe.ticket.split(".").slice(0, 3), "A".repeat(22), "A".repeat(22)].join(".")]);

    for (const [name, ticket] of forged) {
      const res = await open(loc, ticket);
      expect({ name, status: res.status, code: res.body.error?.code }).toEqual({ name, status: 422, code: "key_unknown" });
      noSecretIn(res);
    }
    // The genuine tickets still open, from their copies.
    expect((await open(loc, genuine.ticket)).body.source).toBe("store");
    expect((await open(loc, genuineJwe.ticket)).body.source).toBe("store");
  });

  it("never reads KV for a made-up key id, only for a revoked one", async () => {
    // Reads of stored copies (t:...), not of the ring's read tier, which lives in the same namespace.
    let reads = 0;
    const countingKv = {
      get: (...args: unknown[]) => (String(args[0]).startsWith("t:") && reads++, (env.SESSIONS.get as (...a: unknown[]) => unknown)(...args)),
      put: (...args: unknown[]) => (env.SESSIONS.put as (...a: unknown[]) => unknown)(...args),
      delete: (...args: unknown[]) => (env.SESSIONS.delete as (...a: unknown[]) => unknown)(...args),
    } as unknown as KVNamespace;
    const loc = location(T0, { env: { SESSIONS: countingKv } });
    const sealed = await seal(loc, { session: TLS12_SESSION, store: true });
    for (const keyId of [0xfffffe, sealed.key_id ^ 1]) {
      const res = await open(loc, binaryTicket(keyId, decodeHex(uid()), new Uint8Array(12)));
      expect(res.body.error.code).toBe("key_unknown");
    }
    expect(reads).toBe(0);
    loc.now = T0 + 2;
    await revoke(loc);
    expect((await open(loc, sealed.ticket)).body.source).toBe("store");
    expect(reads).toBe(1);
  });
});

describe("a single-use store ticket", () => {
  afterEach(() => vi.restoreAllMocks());

  for (const format of ["binary", "jwe"] as const) {
    for (const revoked of [false, true]) {
      it(`and 49 rewrites of its clear parts open exactly once in total (${format}, key ${revoked ? "revoked" : "live"})`, async () => {
        const issuer = location();
        const id = uid();
        const sealed = await seal(issuer, { session: { ...TLS12_SESSION, session_id: id }, store: true, single_use: true, format });
        if (revoked) {
          issuer.now = T0 + 2;
          await revoke(issuer);
        }
        const tickets = [sealed.ticket, ...(format === "binary" ? binaryRewrites(sealed.ticket, 49) : jweRewrites(sealed.ticket, 49))];
        expect(new Set(tickets).size).toBe(50);
        const results = await Promise.all(tickets.map((ticket) => open(location(T0 + 3), ticket)));
        const ok = results.filter((r) => r.status === 200);
        expect(ok).toHaveLength(1);
        expect(ok[0]!.body).toMatchObject({ single_use: true, source: revoked ? "store" : "ticket", session_id: id });
        for (const r of results) if (r.status !== 200) noSecretIn(r);
        // And stays used, from anywhere: refused by the guard, or (key revoked) found without a copy once the use removed it.
        const again = await open(location(T0 + 4), sealed.ticket);
        expect([again.status, revoked ? ["ticket_replayed", "key_unknown"] : ["ticket_replayed"]]).toEqual([422, expect.arrayContaining([again.body.error.code])]);
      });
    }
  }

  it("is not used up by another context's ticket with the same key id and nonce", async () => {
    // Beta holds its own ticket keys (the JWK export); the ring, and so the key ids, are shared.
    const loc = location();
    const victim = await seal(loc, { session: TLS12_SESSION, single_use: true });
    const header = parseTicketHeader(decodeBase64url(victim.ticket)!);
    const jwks = await loc.json("GET", "/v1/keys/export?format=jwk", { token: "beta-all" });
    const jwk = (jwks.body.keys as { kid: string }[]).find((k) => Number(k.kid) === header.keyId)!;
    const betaKey = await crypto.subtle.importKey("jwk", jwk as JsonWebKey, "AES-GCM", false, ["encrypt"]);
    const session = parseSession(TLS12_SESSION, { now: T0, timeout: 600 });
    const twin = await sealTicket({ session, sessionId: new Uint8Array(32), withLookupId: false, issuedAt: T0, lifetime: 600, singleUse: true, context: "beta", keyId: header.keyId, key: betaKey, nonce: header.nonce.slice() });
    const burnt = await loc.json("POST", "/v1/tickets/open", { token: "beta-all", body: { ticket: encodeBase64url(twin) } });
    expect([burnt.status, burnt.body.single_use]).toEqual([200, true]);
    // Alpha's ticket is still unused.
    expect((await open(loc, victim.ticket)).status).toBe(200);
    expect((await open(loc, victim.ticket)).body.error.code).toBe("ticket_replayed");
  });

  it("uses its copy up: removed from KV, and never a session of the session-id store", async () => {
    const loc = location();
    const id = uid();
    const sealed = await seal(loc, { session: { ...TLS12_SESSION, session_id: id }, store: true, single_use: true });
    const header = parseTicketHeader(decodeBase64url(sealed.ticket)!);
    const key = await storageKey("ticket", "alpha", ticketName(header));
    expect(await env.SESSIONS.get(key)).not.toBeNull();
    loc.now = T0 + 2;
    expect((await open(loc, sealed.ticket)).status).toBe(200);
    // The removal follows the answer (waitUntil); let it run.
    await vi.waitFor(async () => expect(await env.SESSIONS.get(key)).toBeNull());
    // GET, HEAD and take of its session id: nothing there, as for any id never stored.
    expect((await loc.json("GET", `/v1/sessions/${id}`, { token: "alpha-all" })).status).toBe(404);
    expect((await loc.call("HEAD", `/v1/sessions/${id}`, { token: "alpha-all" })).status).toBe(404);
    expect((await loc.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-all" })).status).toBe(404);
    // After a revoke there is no copy left to fall back on.
    loc.now = T0 + 3;
    await revoke(loc);
    expect((await open(loc, sealed.ticket)).body.error.code).toBe("key_unknown");
  });
});

describe("a ticket that does not open", () => {
  afterEach(() => vi.restoreAllMocks());

  it("costs at most one AES-GCM decryption with 100 contexts configured", async () => {
    const many = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`tenant-${i}`, {}]));
    const loc = location(T0, { env: { CONTEXTS: JSON.stringify({ ...TEST_CONTEXTS, ...many }) } });
    const ticket = (await seal(loc, { session: TLS12_SESSION })).ticket;
    const jwe = (await seal(loc, { session: TLS12_SESSION, format: "jwe" })).ticket;
    const bytes = decodeBase64url(ticket)!;
    const tampered = (i: number) => {
      const b = bytes.slice();
      b[i]! ^= 1;
      return encodeBase64url(b);
    };
    // The ring is warm: every decryption from here on is a ticket's.
    const decryptions = vi.spyOn(crypto.subtle, "decrypt");
    const cases: [string, string, string, number][] = [
      ["tag bit", tampered(bytes.length - 1), "ticket_invalid", 1],
      ["nonce bit", tampered(10), "ticket_invalid", 1],
      ["ciphertext bit", tampered(30), "ticket_invalid", 1],
      ["another context's ticket", (await location(T0).json("POST", "/v1/tickets", { token: "beta-all", body: { session: TLS12_SESSION } })).body.ticket, "ticket_invalid", 1],
      ["a JWE naming another context", jweTicket({ ...jweHeader(jwe), ctx: "tenant-7" }, jwe), "context_mismatch", 0],
      ["a JWE with a forged tag", [...jwe.split(".").slice(0, 4), "A".repeat(22)].join("."), "ticket_invalid", 1],
    ];
    for (const [name, t, code, expected] of cases) {
      decryptions.mockClear();
      const res = await loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket: t } });
      expect({ name, code: res.body.error?.code, decryptions: decryptions.mock.calls.length }).toEqual({ name, code, decryptions: expected });
    }
  });
});
