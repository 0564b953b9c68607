/**
 * Tickets as compact JWE and the ring's ticket subkeys as a JWK Set: the
 * service and plain jose open each other's tickets; only dir/A256GCM is
 * accepted, and other crypto is refused before any key work; a JWE ticket
 * gets every check a binary one gets.
 */
import { CompactEncrypt, base64url, compactDecrypt, decodeProtectedHeader, importJWK, type JWK } from "jose";
import { describe, expect, it } from "vitest";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

const TLS13_SESSION = { version: "TLSv1.3", cipher_suite: 4865, master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", server_name: "app.example.com", ticket_age_add: 7 };

const sealJwe = (loc: Location, extra: object = {}, token = "alpha-all") =>
  loc.json("POST", "/v1/tickets", { token, body: { session: TLS12_SESSION, format: "jwe", ...extra } });
const open = (loc: Location, ticket: string, token = "alpha-all", extra: object = {}) =>
  loc.json("POST", "/v1/tickets/open", { token, body: { ticket, ...extra } });
const exportJwk = (loc: Location, token = "alpha-all") => loc.json("GET", "/v1/keys/export?format=jwk", { token });

async function keyFor(loc: Location, kid: string, token = "alpha-all") {
  const { body } = await exportJwk(loc, token);
  const jwk = (body.keys as JWK[]).find((k) => k.kid === kid);
  if (!jwk) throw new Error(`kid ${kid} not exported`);
  return importJWK(jwk, "A256GCM");
}

/** A JWE made by plain jose, as an application holding the exported JWK would. */
async function joseJwe(loc: Location, header: Record<string, unknown>, payload: unknown = { session_id: "c0ffee", single_use: false, session: TLS12_SESSION }) {
  const { body } = await exportJwk(loc);
  const active = (body.keys as (JWK & { state: string })[]).find((k) => k.state === "active")!;
  const key = await importJWK(active, "A256GCM");
  return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: "dir", enc: "A256GCM", kid: active.kid, ctx: "alpha", iat: loc.now, exp: loc.now + 600, ...header })
    .encrypt(key);
}

/** A compact JWE with the given protected header and well-formed other parts (no valid tag). */
function forged(header: Record<string, unknown>, encryptedKey = ""): string {
  const h = base64url.encode(JSON.stringify(header));
  return [h, encryptedKey, base64url.encode(new Uint8Array(12)), base64url.encode(new Uint8Array(40)), base64url.encode(new Uint8Array(16))].join(".");
}

describe("JWE tickets", () => {
  it("seals a JWE that the service opens with every field of a binary ticket", async () => {
    const loc = location();
    const sealed = await sealJwe(loc);
    expect(sealed.status).toBe(201);
    expect(sealed.body).toMatchObject({ format: "jwe", issued_at: T0, expires_at: T0 + 7200, lifetime_hint: 7200 });
    expect(sealed.body.ticket.split(".")).toHaveLength(5);
    expect(decodeProtectedHeader(sealed.body.ticket)).toEqual({ alg: "dir", enc: "A256GCM", kid: String(sealed.body.key_id), ctx: "alpha", iat: T0, exp: T0 + 7200 });

    loc.now += 60;
    const opened = await open(loc, sealed.body.ticket, "alpha-tickets");
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ format: "jwe", session_id: sealed.body.session_id, key_id: sealed.body.key_id, issued_at: T0, expires_at: T0 + 7200, single_use: false, renew: false, source: "ticket" });
    expect(opened.body.session).toMatchObject({ ...TLS12_SESSION, created_at: T0, timeout: 7200 });
  });

  it("is opened by plain jose with the exported JWK, and the payload is the session", async () => {
    const loc = location();
    const sealed = await sealJwe(loc, { session: { ...TLS12_SESSION, session_id: "abcdef" } });
    const key = await keyFor(loc, String(sealed.body.key_id));
    const { plaintext, protectedHeader } = await compactDecrypt(sealed.body.ticket, key);
    expect(protectedHeader).toMatchObject({ ctx: "alpha", exp: T0 + 7200 });
    expect(JSON.parse(new TextDecoder().decode(plaintext))).toEqual({
      session_id: "abcdef",
      single_use: false,
      session: { ...TLS12_SESSION, encrypt_then_mac: false, created_at: T0, timeout: 7200 },
    });
  });

  it("opens a JWE made by plain jose with the exported JWK", async () => {
    const loc = location();
    await sealJwe(loc); // the ring exists
    const jwe = await joseJwe(loc, {}, { session_id: "0102", single_use: true, session: TLS13_SESSION });
    const opened = await open(loc, jwe);
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ format: "jwe", session_id: "0102", single_use: true, issued_at: T0, expires_at: T0 + 600 });
    expect(opened.body.session).toMatchObject({ ...TLS13_SESSION, created_at: T0, timeout: 600 });
    // Single use holds for JWE tickets too, fleet-wide.
    expect((await open(location(T0), jwe)).body.error.code).toBe("ticket_replayed");
  });

  it("refuses other algorithms, zip and crit before any crypto", async () => {
    const loc = location();
    await sealJwe(loc);
    // kid 1 is not in the ring: a header read past its algorithm would answer key_unknown.
    const base = { alg: "dir", enc: "A256GCM", kid: "1", ctx: "alpha", iat: T0, exp: T0 + 60 };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, alg: "PBES2-HS512+A256KW", p2c: 2 ** 31, p2s: "AAAAAAAAAAAAAAAAAAAAAA" }, "ticket_unsupported_algorithm"],
      [{ ...base, alg: "RSA-OAEP-256" }, "ticket_unsupported_algorithm"],
      [{ ...base, alg: "A256KW" }, "ticket_unsupported_algorithm"],
      [{ ...base, alg: "none" }, "ticket_unsupported_algorithm"],
      [{ ...base, alg: undefined }, "ticket_unsupported_algorithm"],
      [{ ...base, enc: "A128GCM" }, "ticket_unsupported_algorithm"],
      [{ ...base, enc: "A256CBC-HS512" }, "ticket_unsupported_algorithm"],
      [{ ...base, zip: "DEF" }, "ticket_unsupported_algorithm"],
      [{ ...base, crit: ["exp"] }, "ticket_unsupported_algorithm"],
      [{ ...base, jku: "https://attacker.example/jwks" }, "ticket_malformed"],
      [{ ...base, kid: "01" }, "ticket_malformed"],
      [{ ...base, kid: 1 }, "ticket_malformed"],
      [{ ...base, kid: "16777216" }, "ticket_malformed"],
      [{ ...base, exp: T0 }, "ticket_malformed"],
      [{ ...base, exp: T0 + 604801 }, "ticket_malformed"],
      [{ ...base, iat: "now" }, "ticket_malformed"],
      [{ ...base, ctx: undefined }, "ticket_malformed"],
      [{ ...base, sid: "XYZ" }, "ticket_malformed"],
      [base, "key_unknown"],
    ];
    for (const [header, code] of cases) {
      const res = await open(loc, forged(header));
      expect({ header, status: res.status, code: res.body.error?.code }).toEqual({ header, status: 422, code });
    }
    const shapes: [string, string][] = [
      [forged(base, "AAAA"), "ticket_malformed"], // a "dir" JWE carries no encrypted key
      ["a.b.c", "ticket_malformed"],
      ["....", "ticket_malformed"],
      [forged(base).replace(/\.[^.]+$/, ".AAAA"), "ticket_malformed"], // a short tag
      [`${base64url.encode("[1]")}....`, "ticket_malformed"],
      [`${base64url.encode("not json")}.x.y.z.w`, "ticket_malformed"],
      [`${"A".repeat(600)}....`, "ticket_malformed"],
      ["e30.$.a.b.c", "ticket_malformed"],
    ];
    for (const [ticket, code] of shapes) {
      const res = await open(loc, ticket);
      expect({ ticket: ticket.slice(0, 40), status: res.status, code: res.body.error?.code }).toEqual({ ticket: ticket.slice(0, 40), status: 422, code });
    }
  });

  it("gives a JWE every check of a binary ticket", async () => {
    const loc = location();
    const sealed = await sealJwe(loc, { session: { ...TLS13_SESSION }, single_use: true });
    const ticket: string = sealed.body.ticket;
    const parts = ticket.split(".");
    const flip = (s: string) => (s[5] === "A" ? `${s.slice(0, 5)}B${s.slice(6)}` : `${s.slice(0, 5)}A${s.slice(6)}`);
    // Any change to the authenticated parts fails authentication.
    for (const i of [0, 2, 3, 4]) {
      if (i === 0) {
        const header = { ...decodeProtectedHeader(ticket), exp: T0 + 7000 };
        parts[0] = base64url.encode(JSON.stringify(header));
      }
      const changed = [...ticket.split(".")];
      changed[i] = i === 0 ? parts[0]! : flip(changed[i]!);
      const res = await open(loc, changed.join("."));
      expect({ part: i, code: res.body.error?.code }).toEqual({ part: i, code: "ticket_invalid" });
    }
    // One encoding per ticket: the ciphertext's last character with unused bits set is another spelling, refused.
    const ct = ticket.split(".")[3]!;
    const unused = ct.length % 4 === 2 ? 0b1111 : ct.length % 4 === 3 ? 0b11 : 0;
    expect(unused, "this session's ciphertext ends in a partial group").toBeGreaterThan(0);
    {
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const last = alphabet[alphabet.indexOf(ct.at(-1)!) | unused]!;
      const respelled = ticket.split(".");
      respelled[3] = ct.slice(0, -1) + last;
      expect((await open(loc, respelled.join("."))).body.error.code).toBe("ticket_malformed");
    }
    expect((await open(loc, ticket, "beta-all")).body.error.code).toBe("context_mismatch");
    expect((await open(loc, ticket, "alpha-all", { server_name: "other.example.com" })).body.error.code).toBe("sni_mismatch");
    expect((await open(loc, ticket, "alpha-all", { obfuscated_ticket_age: 7 + 60_000 })).body.error.code).toBe("ticket_age_mismatch");
    // Refused attempts did not use it up; the first real open does.
    const first = await open(loc, ticket, "alpha-all", { server_name: "APP.example.com", obfuscated_ticket_age: 7 + 1000 });
    expect(first.status).toBe(200);
    expect(first.body.ticket_age).toMatchObject({ client_ms: 1000, server_ms: 0 });
    expect((await open(loc, ticket)).body.error.code).toBe("ticket_replayed");
    const later = await sealJwe(loc, { lifetime: 60 });
    loc.now += 60;
    expect((await open(loc, later.body.ticket)).body.error.code).toBe("ticket_expired");
  });

  it("refuses a JWE whose authenticated header names another context, or whose payload is not this format", async () => {
    const loc = location();
    await sealJwe(loc);
    // Made with alpha's key (only a JWK holder can): authenticates, then the header decides.
    expect((await open(loc, await joseJwe(loc, { ctx: "beta" }))).body.error.code).toBe("context_mismatch");
    const payloads: unknown[] = [
      { session_id: "0102", session: { ...TLS12_SESSION, master_secret: "AAAA" } },
      { session_id: "0102", session: TLS12_SESSION, extra: 1 },
      { session_id: "XY", session: TLS12_SESSION },
      { session: TLS12_SESSION },
      { session_id: "0102", single_use: "yes", session: TLS12_SESSION },
      [1, 2],
    ];
    for (const payload of payloads) {
      const res = await open(loc, await joseJwe(loc, {}, payload));
      expect({ payload, status: res.status, code: res.body.error?.code }).toEqual({ payload, status: 422, code: "ticket_malformed" });
      expect(JSON.stringify(res.body)).not.toContain(TLS12_SESSION.master_secret);
    }
    const mismatched = await joseJwe(loc, { sid: "0a0b" }, { session_id: "0102", session: TLS12_SESSION });
    expect((await open(loc, mismatched)).body.error.code).toBe("ticket_malformed");
  });

  it("falls back to the store by the clear sid when the JWE's key is destroyed", async () => {
    const loc = location();
    const sealed = await sealJwe(loc, { store: true, session: { ...TLS12_SESSION, session_id: "5e55" } });
    expect(decodeProtectedHeader(sealed.body.ticket)).toMatchObject({ sid: "5e55" });
    const rotated = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
    expect(rotated.body.revoked).toContain(sealed.body.key_id);
    const opened = await open(loc, sealed.body.ticket);
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ format: "jwe", source: "store", renew: true, session_id: "5e55", key_id: sealed.body.key_id });
    // Without store: true there is no sid, and nothing to fall back to.
    const plain = await sealJwe(loc);
    await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
    expect((await open(loc, plain.body.ticket)).body.error.code).toBe("key_unknown");
  });
});

describe("GET /v1/keys/export?format=jwk", () => {
  it("is a JWK Set of the context's subkeys with each key's times, the active key first", async () => {
    const loc = location();
    const { body: ring } = await loc.json("GET", "/v1/keys", { token: "alpha-all" });
    const res = await loc.call("GET", "/v1/keys/export?format=jwk", { token: "alpha-all" });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ format: "jwk", context: "alpha", now: T0 });
    expect(body.keys.map((k: any) => k.kid).sort()).toEqual(ring.keys.map((k: any) => String(k.id)).sort());
    expect(body.keys[0]).toMatchObject({ kty: "oct", alg: "A256GCM", use: "enc", state: "active", key_ops: ["encrypt", "decrypt"] });
    for (const jwk of body.keys) {
      expect(base64url.decode(jwk.k)).toHaveLength(32);
      const times = ring.keys.find((k: any) => String(k.id) === jwk.kid);
      expect(jwk).toMatchObject({ state: times.state, activates_at: times.activates_at, deactivates_at: times.deactivates_at, expires_at: times.expires_at });
      if (jwk.state !== "active") expect(jwk.key_ops).toEqual(["decrypt"]);
    }
  });

  it("differs per context, changes its revision on rotation, and needs the stek or admin scope", async () => {
    const loc = location();
    const alpha = await exportJwk(loc);
    const beta = await exportJwk(loc, "beta-all");
    expect(beta.body.keys.map((k: any) => k.kid)).toEqual(alpha.body.keys.map((k: any) => k.kid));
    expect(beta.body.keys.map((k: any) => k.k)).not.toEqual(alpha.body.keys.map((k: any) => k.k));
    // Another location derives the same bytes.
    expect((await exportJwk(location(T0))).body.keys).toEqual(alpha.body.keys);

    await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
    const after = await exportJwk(loc);
    expect(after.body.revision).not.toBe(alpha.body.revision);
    expect(after.body.keys.map((k: any) => k.k)).not.toContain(alpha.body.keys[0].k);

    expect((await exportJwk(loc, "alpha-keys")).status).toBe(403);
    const slots = await loc.json("GET", "/v1/keys/export?format=jwk&slots=2", { token: "alpha-all" });
    expect([slots.status, slots.body.error.code, slots.body.error.field]).toEqual([400, "invalid_request", "slots"]);
  });

  it("opens binary tickets too: the JWK is the very subkey that seals them", async () => {
    const loc = location();
    const sealed = await loc.json("POST", "/v1/tickets", { token: "alpha-all", body: { session: TLS12_SESSION } });
    const { body } = await exportJwk(loc);
    const jwk = body.keys.find((k: any) => k.kid === String(sealed.body.key_id));
    // WebCrypto takes the JWK as it is (its extra members are ignored).
    const key = await crypto.subtle.importKey("jwk", jwk, "AES-GCM", false, ["decrypt"]);
    const ticket = new Uint8Array(base64url.decode(sealed.body.ticket));
    const headerLength = 5 + 12; // no lookup id
    const aad = new Uint8Array([...ticket.subarray(0, headerLength), ...new TextEncoder().encode("alpha")]);
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: ticket.subarray(5, 17), additionalData: aad }, key, ticket.subarray(headerLength));
    expect(plain.byteLength).toBe(ticket.length - headerLength - 16);
  });
});
