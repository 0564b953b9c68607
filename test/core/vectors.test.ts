/**
 * Interoperability vectors for ticket format v1 (test/vectors/ticket-v1.json,
 * written by scripts/gen-vectors.mjs). Runs in workerd and in Node.
 */
import { describe, expect, it } from "vitest";
import {
  decodeBase64url,
  decodeSession,
  encodeBase64url,
  encodeHex,
  encodeSession,
  KeyUnknownError,
  openTicket,
  parseSession,
  ResumptionError,
  sessionToJson,
  TicketKeyCache,
} from "../../src/core/index.js";
import { hex, invalid, keysFor, sealVector, valid, vectors } from "../vectors/vectors.js";
import { concat, expectedBody, independentDecrypt, leb128 } from "./support.js";

describe("ticket-v1.json", () => {
  it("has unique names and both kinds of case", () => {
    expect(new Set(vectors.map((v) => v.name)).size).toBe(vectors.length);
    expect(vectors.every((v) => v.type === "valid" || v.type === "invalid")).toBe(true);
    expect(valid.length).toBeGreaterThanOrEqual(6);
    expect(invalid.length).toBeGreaterThanOrEqual(4);
  });

  it("covers the cases the format must be pinned by", () => {
    const ref = valid.find((v) => v.name === "tls12-reference")!;
    expect(ref.session).toMatchObject({ version: "TLSv1.2", cipher_suite: 0xc02b, extended_master_secret: true });
    expect(decodeBase64url(ref.session.master_secret as string)).toHaveLength(48);
    expect(ref.session.server_name).toHaveLength(20);

    const tls13 = valid.find((v) => v.session.version === "TLSv1.3" && v.session.alpn && v.session.max_early_data !== undefined)!;
    expect(tls13.session.ticket_age_add).toBeTypeOf("number");
    expect(decodeBase64url(tls13.session.master_secret as string)).toHaveLength(32);

    expect(valid.some((v) => v.session.opaque && !v.session.master_secret && !v.session.version)).toBe(true);
    expect(valid.some((v) => v.with_lookup_id)).toBe(true);
    expect(valid.some((v) => Array.isArray(v.session.peer_certificate_chain))).toBe(true);
    expect(valid.some((v) => v.single_use)).toBe(true);

    const codes = new Set(invalid.map((v) => v.expected_error.code));
    for (const code of ["ticket_invalid", "ticket_unsupported_version", "ticket_malformed", "key_unknown", "ticket_expired"]) {
      expect(codes, code).toContain(code);
    }
  });

  it("spells the reference session's bytes as docs/ticket-format.md describes", () => {
    const ref = valid.find((v) => v.name === "tls12-reference")!;
    const s = ref.session;
    const bitmap = 0b0000_0000_0001_0111; // version+cipher, master_secret, extended_master_secret, server_name
    const sni = new TextEncoder().encode(s.server_name as string);
    const manual = concat(
      [bitmap >> 8, bitmap & 255],
      leb128(s.created_at as number),
      leb128(s.timeout as number),
      [3, 0xc0, 0x2b], // TLSv1.2 is code 3; cipher suite big-endian
      [48],
      decodeBase64url(s.master_secret as string)!,
      [sni.length],
      sni,
    );
    expect(encodeHex(manual)).toBe(ref.expected.session_bytes);
    // Ticket header: version 1, key id 1 in 24 bits, no lookup id, then the nonce.
    expect(ref.expected.ticket.slice(0, 34)).toBe(`01000001` + `00` + ref.nonce);
  });
});

describe.each(valid.map((v) => [v.name, v] as const))("valid vector %s", (_name, v) => {
  it("parses to the expected session and session bytes", () => {
    const session = parseSession(v.session, v.session_defaults);
    expect(sessionToJson(session)).toEqual(v.expected.session);
    expect(encodeHex(encodeSession(session))).toBe(v.expected.session_bytes);
    expect(sessionToJson(decodeSession(hex(v.expected.session_bytes)))).toEqual(v.expected.session);
    // The normalized JSON is a fixed point of the parser.
    expect(sessionToJson(parseSession(v.expected.session, { now: 0, timeout: 1 }))).toEqual(v.expected.session);
  });

  it("seals with the fixed nonce to exactly the expected ticket", async () => {
    const { key } = await keysFor(v);
    const ticket = await sealVector(v, key);
    expect(encodeHex(ticket)).toBe(v.expected.ticket);
    expect(encodeBase64url(ticket)).toBe(v.expected.ticket_base64url);
    expect(ticket.length).toBe(v.expected.ticket_length);
  });

  it("opens the expected ticket", async () => {
    const { keys } = await keysFor(v);
    const ticket = decodeBase64url(v.expected.ticket_base64url)!;
    expect(encodeHex(ticket)).toBe(v.expected.ticket);
    const opened = await openTicket(ticket, { context: v.context, now: v.open_at, keys });
    expect(sessionToJson(opened.session)).toEqual(v.expected.session);
    expect(encodeHex(opened.sessionId)).toBe(v.session_id);
    expect(opened).toMatchObject({
      keyId: v.key_id,
      hasLookupId: v.with_lookup_id,
      issuedAt: v.issued_at,
      lifetime: v.lifetime,
      expiresAt: v.expected.expires_at,
      singleUse: v.single_use,
    });
    expect(v.expected.expires_at).toBe(v.issued_at + v.lifetime);
  });

  it("decrypts independently (WebCrypto only) to the documented body", async () => {
    const ticket = hex(v.expected.ticket);
    const { headerLength, body } = await independentDecrypt(ticket, hex(v.key_material), v.context);
    expect(ticket[0]).toBe(1);
    expect((ticket[1]! << 16) | (ticket[2]! << 8) | ticket[3]!).toBe(v.key_id);
    expect(ticket[4]).toBe(v.with_lookup_id ? hex(v.session_id).length : 0);
    if (v.with_lookup_id) expect(encodeHex(ticket.subarray(5, 5 + ticket[4]!))).toBe(v.session_id);
    expect(encodeHex(ticket.subarray(headerLength - 12, headerLength))).toBe(v.nonce);
    const manual = expectedBody({
      singleUse: v.single_use,
      withLookupId: v.with_lookup_id,
      issuedAt: v.issued_at,
      lifetime: v.lifetime,
      sessionId: hex(v.session_id),
      sessionBytes: hex(v.expected.session_bytes),
    });
    expect(encodeHex(body)).toBe(encodeHex(manual));
    expect(ticket.length).toBe(headerLength + body.length + 16);
  });
});

describe.each(invalid.map((v) => [v.name, v] as const))("invalid vector %s", (_name, v) => {
  it(`is refused with ${v.expected_error.code}`, async () => {
    const keys = new TicketKeyCache();
    keys.add(v.key_id, hex(v.key_material));
    const error = await openTicket(hex(v.ticket), {
      context: v.context,
      now: v.open_at,
      keys,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ResumptionError);
    expect((error as ResumptionError).code).toBe(v.expected_error.code);
    if (v.expected_error.code === "key_unknown") {
      expect(error).toBeInstanceOf(KeyUnknownError);
      const lookupId = (error as KeyUnknownError).lookupId;
      expect(lookupId && encodeHex(lookupId)).toBe(v.expected_error.lookup_id);
    }
  });
});
