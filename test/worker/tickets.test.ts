import { describe, expect, it } from "vitest";
import { decodeBase64url, encodeBase64url, parseSession, parseTicketHeader, sealTicket } from "../../src/core/index.js";
import { T0, TLS12_SESSION, location } from "./harness.js";

const seal = (loc: ReturnType<typeof location>, body: unknown = { session: TLS12_SESSION }, token = "alpha-tickets") =>
  loc.json("POST", "/v1/tickets", { token, body });
const open = (loc: ReturnType<typeof location>, ticket: string, token = "alpha-tickets", extra: object = {}) =>
  loc.json("POST", "/v1/tickets/open", { token, body: { ticket, ...extra } });

describe("tickets over HTTP", () => {
  it("seals and opens a session", async () => {
    const loc = location();
    const sealed = await seal(loc);
    expect(sealed.status).toBe(201);
    expect(sealed.body).toMatchObject({ issued_at: T0, expires_at: T0 + 7200, lifetime_hint: 7200 });
    expect(sealed.body.session_id).toMatch(/^[0-9a-f]{64}$/);
    expect(sealed.body.ticket).toMatch(/^[A-Za-z0-9_-]+$/);

    loc.now += 100;
    const opened = await open(loc, sealed.body.ticket);
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({
      session_id: sealed.body.session_id,
      key_id: sealed.body.key_id,
      issued_at: T0,
      expires_at: T0 + 7200,
      renew: false,
      source: "ticket",
    });
    expect(opened.body.session).toMatchObject({ ...TLS12_SESSION, created_at: T0, timeout: 7200 });
  });

  it("keeps a session id the session carries, and caps the lifetime at the context's", async () => {
    const loc = location();
    const sealed = await seal(loc, { session: { ...TLS12_SESSION, session_id: "abcd" }, lifetime: 604800 });
    expect(sealed.status).toBe(201);
    expect(sealed.body.session_id).toBe("abcd");
    expect(sealed.body.lifetime_hint).toBe(7200);
    const shorter = await seal(loc, { session: TLS12_SESSION, lifetime: 60 });
    expect(shorter.body).toMatchObject({ lifetime_hint: 60, expires_at: T0 + 60 });
  });

  it("judges the session's own end as the store does: an ended session is refused, a ticket lives no longer than its session", async () => {
    const loc = location();
    // The store refuses it (400 session_invalid); so does sealing, in both formats.
    for (const format of ["binary", "jwe"]) {
      const ended = await seal(loc, { session: { ...TLS12_SESSION, created_at: 1000, timeout: 1 }, format });
      expect(ended.status).toBe(400);
      expect(ended.body.error.code).toBe("session_invalid");
      expect(JSON.stringify(ended.body)).toContain("session.created_at");
    }
    // 100 s of the session left: the ticket's lifetime is those 100 s, not the context's 7200.
    const ending = await seal(loc, { session: { ...TLS12_SESSION, created_at: T0 - 200, timeout: 300 } });
    expect(ending.status).toBe(201);
    expect(ending.body).toMatchObject({ lifetime_hint: 100, expires_at: T0 + 100 });
    // A created_at in the future is now, as the store clamps it.
    const future = await seal(loc, { session: { ...TLS12_SESSION, created_at: 2 ** 33 } });
    loc.now += 10;
    const opened = await open(loc, future.body.ticket);
    expect(opened.status).toBe(200);
    expect(opened.body.session).toMatchObject({ created_at: T0 });
    loc.now = T0 + 100;
    expect((await open(loc, ending.body.ticket)).body.error.code).toBe("ticket_expired");
  });

  it("does not resume a session past its end from a ticket that outlives it (sealed with an exported key)", async () => {
    const loc = location();
    const own = await seal(loc);
    const header = parseTicketHeader(decodeBase64url(own.body.ticket)!);
    const jwks = await loc.json("GET", "/v1/keys/export?format=jwk", { token: "alpha-all" });
    const jwk = (jwks.body.keys as { kid: string }[]).find((k) => Number(k.kid) === header.keyId)!;
    const key = await crypto.subtle.importKey("jwk", jwk as JsonWebKey, "AES-GCM", false, ["encrypt"]);
    // A holder of the subkey seals a 2-hour ticket around a session that ends after 60 s.
    const session = parseSession({ ...TLS12_SESSION, created_at: T0, timeout: 60 }, { now: T0, timeout: 60 });
    const ticket = encodeBase64url(
      await sealTicket({ session, sessionId: new Uint8Array(32), withLookupId: false, issuedAt: T0, lifetime: 7200, singleUse: false, context: "alpha", keyId: header.keyId, key }),
    );
    loc.now = T0 + 59;
    expect((await open(loc, ticket)).status).toBe(200);
    loc.now = T0 + 60;
    const late = await open(loc, ticket);
    expect(late.status).toBe(422);
    expect(late.body.error.code).toBe("ticket_expired");
  });

  it("answers every ticket failure with 422 and its code", async () => {
    const loc = location();
    const { body } = await seal(loc);
    const bytes = Uint8Array.from(atob(body.ticket.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const mutate = (f: (b: Uint8Array) => void) => {
      const copy = bytes.slice();
      f(copy);
      return b64(copy);
    };
    const cases: [string, string][] = [
      ["not base64url!", "ticket_malformed"],
      ["AQID", "ticket_malformed"],
      [mutate((b) => (b[0] = 2)), "ticket_unsupported_version"],
      [mutate((b) => (b[1] = b[1]! ^ 0xff)), "key_unknown"],
      [mutate((b) => (b[b.length - 1] = b[b.length - 1]! ^ 1)), "ticket_invalid"],
      [mutate((b) => (b[10] = b[10]! ^ 1)), "ticket_invalid"],
      [b64(bytes.subarray(0, 20)), "ticket_malformed"],
    ];
    for (const [ticket, code] of cases) {
      const res = await open(loc, ticket);
      expect({ ticket, status: res.status, code: res.body.error.code }).toEqual({ ticket, status: 422, code });
    }
    loc.now = T0 + 7200;
    const expired = await open(loc, body.ticket);
    expect([expired.status, expired.body.error.code]).toEqual([422, "ticket_expired"]);
  });

  it("never opens a ticket in another context", async () => {
    const loc = location();
    const { body } = await seal(loc);
    const res = await open(loc, body.ticket, "beta-all");
    expect(res.status).toBe(422);
    // Not context_mismatch: telling it would cost a decryption per context (docs/security.md).
    expect(res.body.error.code).toBe("ticket_invalid");
    expect(JSON.stringify(res.body)).not.toContain("master_secret");
  });

  it("issues only tickets the open route can take in its 64 KiB body", async () => {
    const loc = location();
    const opaque = (n: number) => btoa(String.fromCharCode(...new Uint8Array(n).fill(7))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    for (const [format, fits, tooLarge] of [["binary", 48_600, 48_800], ["jwe", 35_000, 37_000]] as const) {
      const sealed = await seal(loc, { session: { opaque: opaque(fits) }, format });
      expect(sealed.status, format).toBe(201);
      expect(sealed.body.ticket.length).toBeLessThanOrEqual(65_024);
      const opened = await open(loc, sealed.body.ticket);
      expect(opened.status, format).toBe(200);
      const refused = await seal(loc, { session: { opaque: opaque(tooLarge) }, format });
      expect([refused.status, refused.body.error.code], format).toEqual([400, "session_invalid"]);
    }
  });

  it("checks tokens, scopes and request bodies", async () => {
    const loc = location();
    const cases: [Parameters<typeof loc.json>[2] & { path?: string }, number, string][] = [
      [{ body: { session: TLS12_SESSION } }, 401, "unauthorized"],
      [{ token: "nope", body: { session: TLS12_SESSION } }, 401, "unauthorized"],
      [{ token: "alpha-sessions", body: { session: TLS12_SESSION } }, 403, "forbidden"],
      [{ token: "alpha-tickets", body: "{not json" }, 400, "invalid_json"],
      [{ token: "alpha-tickets", body: [1] }, 400, "invalid_request"],
      [{ token: "alpha-tickets", body: { session: TLS12_SESSION, lifetime: "1" } }, 400, "invalid_request"],
      [{ token: "alpha-tickets", body: { session: TLS12_SESSION, lifetime: 0 } }, 400, "invalid_request"],
      [{ token: "alpha-tickets", body: { session: TLS12_SESSION, extra: 1 } }, 400, "invalid_request"],
      [{ token: "alpha-tickets", body: {} }, 400, "invalid_request"],
      [{ token: "alpha-tickets", body: { session: { ...TLS12_SESSION, master_secret: "AAAA" } } }, 400, "session_invalid"],
      [{ token: "alpha-tickets", body: { session: { ...TLS12_SESSION, session_id: "ABCD" } } }, 400, "invalid_session_id"],
      [{ token: "alpha-tickets", body: { session: TLS12_SESSION, pad: "x".repeat(70_000) } }, 413, "body_too_large"],
    ];
    for (const [options, status, code] of cases) {
      const res = await loc.json("POST", "/v1/tickets", options);
      expect({ options: JSON.stringify(options).slice(0, 80), status: res.status, code: res.body?.error?.code }).toEqual({
        options: JSON.stringify(options).slice(0, 80),
        status,
        code,
      });
    }
    const field = await loc.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION, lifetime: "1" } });
    expect(field.body.error.message).toContain("lifetime");
    // The scheme is case-insensitive (RFC 7235); the token is not.
    for (const [authorization, status] of [["bearer alpha-tickets", 201], ["BEARER alpha-tickets", 201], ["Bearer ALPHA-TICKETS", 401]] as const) {
      const res = await loc.call("POST", "/v1/tickets", { body: { session: TLS12_SESSION }, headers: { authorization } });
      expect([authorization, res.status]).toEqual([authorization, status]);
    }
    const wrongType = await loc.call("POST", "/v1/tickets", { token: "alpha-tickets", body: "{}", headers: { "content-type": "text/plain" } });
    expect(wrongType.status).toBe(415);
  });
});
