/**
 * Ticket sealing and opening: round trips over random sessions, every bit
 * flip, every truncation, size limits, key lookup, expiry and contexts.
 * Runs in workerd and in Node.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CORE_ERROR_CODES,
  decodeSession,
  encodeBase64url,
  encodeHex,
  encodeSession,
  isResumptionError,
  KeyUnknownError,
  MAX_TICKET_BYTES,
  openTicket,
  parseSession,
  parseTicketHeader,
  ResumptionError,
  sealTicket,
  sessionToJson,
  TICKET_OVERHEAD,
  TicketKeyCache,
  type OpenOptions,
  type SealInput,
  type Session,
  type TicketKeySource,
} from "../../src/core/index.js";
import { ByteReader } from "../../src/core/internal.js";
import { bytesArb, concat, DEFAULTS, expectedBody, independentDecrypt, independentSeal, leb128, RUNS, sealParamsArb, sessionJsonArb } from "./support.js";

const MATERIAL = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 255);
const OTHER_MATERIAL = Uint8Array.from({ length: 32 }, (_, i) => (i * 53 + 7) & 255);
const KEY_ID = 1;
const CONTEXT = "default";
const NOW = 1_767_225_600;

/** The reference session of docs/ticket-format.md (and of the tls12-reference vector). */
const REFERENCE: Session = parseSession(
  {
    version: "TLSv1.2",
    cipher_suite: 0xc02b,
    master_secret: encodeBase64url(Uint8Array.from({ length: 48 }, (_, i) => i)),
    extended_master_secret: true,
    server_name: "resume.example-a.com",
    created_at: NOW,
    timeout: 7200,
  },
  DEFAULTS,
);
const SESSION_ID = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

let keys: TicketKeyCache;
let key: CryptoKey;

beforeAll(async () => {
  keys = new TicketKeyCache();
  keys.add(KEY_ID, MATERIAL);
  key = await keys.subkey(KEY_ID, CONTEXT)!;
});

function sealInput(over: Partial<SealInput> = {}): SealInput {
  return {
    session: REFERENCE,
    sessionId: SESSION_ID,
    withLookupId: false,
    issuedAt: NOW,
    lifetime: 7200,
    singleUse: false,
    context: CONTEXT,
    keyId: KEY_ID,
    key,
    ...over,
  };
}

const open = (ticket: Uint8Array<ArrayBuffer>, over: Partial<OpenOptions> = {}) =>
  openTicket(ticket, { context: CONTEXT, now: NOW, keys, ...over });

/** The error a promise rejects with; fails the test if it resolves. */
async function rejection(p: Promise<unknown>): Promise<ResumptionError> {
  const outcome = await p.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error("expected a rejection, but it resolved");
  const e = outcome.error;
  if (!(e instanceof ResumptionError)) throw new Error(`expected a ResumptionError, got ${String(e)}`);
  expect(CORE_ERROR_CODES).toContain(e.code);
  return e;
}

/** A TicketKeySource that records every subkey() call. */
class SpyKeys implements TicketKeySource {
  readonly calls: [number, string][] = [];
  constructor(private readonly inner: TicketKeySource) {}
  subkey(keyId: number, context: string) {
    this.calls.push([keyId, context]);
    return this.inner.subkey(keyId, context);
  }
}

/**
 * What opening must say about a ticket before any crypto, by the layout in
 * docs/ticket-format.md (parsed here independently of parseTicketHeader):
 * an error code, or "authenticate" when the header is fine and the key known.
 */
function headerVerdict(t: Uint8Array, knownKeyId = KEY_ID): string {
  if (t.length === 0 || t.length > MAX_TICKET_BYTES) return "ticket_malformed";
  if (t[0] !== 1) return "ticket_unsupported_version";
  if (t.length < 5) return "ticket_malformed";
  const lookupLength = t[4]!;
  if (lookupLength > 32) return "ticket_malformed";
  if (t.length - (5 + lookupLength + 12) < 16 + 8) return "ticket_malformed";
  if (((t[1]! << 16) | (t[2]! << 8) | t[3]!) !== knownKeyId) return "key_unknown";
  return "authenticate";
}

describe("seal then open", () => {
  it("returns the same session for random valid sessions (every field), and the documented body", async () => {
    await fc.assert(
      fc.asyncProperty(sessionJsonArb, sealParamsArb, async (json, p) => {
        const session = parseSession(json, DEFAULTS);
        const subkey = await keys.subkey(KEY_ID, p.context)!;
        const ticket = await sealTicket({ ...p, session, keyId: KEY_ID, key: subkey });
        const opened = await openTicket(ticket, { context: p.context, now: p.issuedAt, keys });
        expect(sessionToJson(opened.session)).toEqual(sessionToJson(session));
        expect(encodeHex(opened.sessionId)).toBe(encodeHex(p.sessionId));
        expect(opened).toMatchObject({
          keyId: KEY_ID,
          hasLookupId: p.withLookupId,
          issuedAt: p.issuedAt,
          lifetime: p.lifetime,
          expiresAt: p.issuedAt + p.lifetime,
          singleUse: p.singleUse,
        });
        // Exact size: header + plaintext body + tag, the body laid out as documented.
        const body = expectedBody({ ...p, sessionBytes: encodeSession(session) });
        expect(ticket.length).toBe(TICKET_OVERHEAD + (p.withLookupId ? p.sessionId.length : 0) + body.length);
        const decrypted = await independentDecrypt(ticket, MATERIAL, p.context);
        expect(encodeHex(decrypted.body)).toBe(encodeHex(body));
      }),
      RUNS,
    );
  });

  it("uses a fresh random nonce each time", async () => {
    const a = await sealTicket(sealInput());
    const b = await sealTicket(sealInput());
    expect(encodeHex(a)).not.toBe(encodeHex(b));
    expect(encodeHex(parseTicketHeader(a).nonce)).not.toBe(encodeHex(parseTicketHeader(b).nonce));
    for (const t of [a, b]) expect(sessionToJson((await open(t)).session)).toEqual(sessionToJson(REFERENCE));
  });

  it("a fixed nonce gives the same bytes every time", async () => {
    const nonce = new Uint8Array(12).fill(9);
    expect(encodeHex(await sealTicket(sealInput({ nonce })))).toBe(encodeHex(await sealTicket(sealInput({ nonce }))));
  });

  it("parses the clear header", async () => {
    const t = await sealTicket(sealInput({ withLookupId: true, keyId: KEY_ID, nonce: new Uint8Array(12).fill(0xab) }));
    const h = parseTicketHeader(t);
    expect(h).toMatchObject({ version: 1, keyId: KEY_ID, headerLength: 5 + 32 + 12 });
    expect(encodeHex(h.lookupId!)).toBe(encodeHex(SESSION_ID));
    expect(encodeHex(h.nonce)).toBe("ab".repeat(12));
    expect(parseTicketHeader(await sealTicket(sealInput())).lookupId).toBeUndefined();
  });
});

describe("overhead and size", () => {
  it("is exactly TICKET_OVERHEAD (at most 33 bytes) over the plaintext body without a lookup id", async () => {
    expect(TICKET_OVERHEAD).toBeLessThanOrEqual(33);
    expect(TICKET_OVERHEAD).toBe(1 + 3 + 1 + 12 + 16);
    const ticket = await sealTicket(sealInput());
    const bodyLength = ticket.length - TICKET_OVERHEAD;
    const { headerLength, body } = await independentDecrypt(ticket, MATERIAL, CONTEXT);
    expect(body.length).toBe(bodyLength);
    expect(headerLength + bodyLength + 16).toBe(ticket.length);
    // The body decodes: flags, issued_at, lifetime, session id, then exactly the session.
    const r = new ByteReader(body, "ticket_malformed");
    expect(r.u8("flags")).toBe(0b10);
    expect(r.varint("issued_at")).toBe(NOW);
    expect(r.varint("lifetime")).toBe(7200);
    expect(encodeHex(r.bytes(r.u8("session id length"), "session id"))).toBe(encodeHex(SESSION_ID));
    const sessionBytes = body.subarray(r.offset);
    expect(encodeHex(sessionBytes)).toBe(encodeHex(encodeSession(REFERENCE)));
    expect(sessionToJson(decodeSession(sessionBytes))).toEqual(sessionToJson(REFERENCE));
    expect(bodyLength - encodeSession(REFERENCE).length).toBe(1 + 5 + 2 + 1 + 32);
    console.log(
      `reference TLS 1.2 session: ticket ${ticket.length} bytes (${encodeBase64url(ticket).length} base64url chars); ` +
        `body ${bodyLength} = session ${encodeSession(REFERENCE).length} + ${bodyLength - encodeSession(REFERENCE).length} ticket fields; overhead ${TICKET_OVERHEAD}`,
    );
    expect(ticket.length).toBe(156);
  });

  it("a lookup id moves the session id from the body into the header", async () => {
    const without = await sealTicket(sealInput());
    const withId = await sealTicket(sealInput({ withLookupId: true }));
    // The id moves from the body (1 length byte + 32) to the header (32; its length byte is in the overhead).
    expect(withId.length).toBe(without.length - 1);
  });

  it("seals a ticket of exactly 65535 bytes and refuses one byte more", async () => {
    const sessionWithCert = (n: number) =>
      parseSession(
        {
          opaque: encodeBase64url(new Uint8Array(49_152)),
          peer_certificate_chain: [encodeBase64url(new Uint8Array(n).fill(1))],
          created_at: NOW,
          timeout: 60,
        },
        DEFAULTS,
      );
    let n = 1000;
    n += MAX_TICKET_BYTES - (await sealTicket(sealInput({ session: sessionWithCert(n) }))).length;
    const largest = await sealTicket(sealInput({ session: sessionWithCert(n) }));
    expect(largest.length).toBe(MAX_TICKET_BYTES);
    expect((await open(largest)).session.peer_certificate_chain![0]!.length).toBe(n);
    const e = await rejection(sealTicket(sealInput({ session: sessionWithCert(n + 1) })));
    expect(e.code).toBe("session_invalid");
  });

  it("refuses tickets over 65535 bytes as ticket_malformed before any key lookup", async () => {
    const ticket = await sealTicket(sealInput());
    for (const size of [MAX_TICKET_BYTES + 1, MAX_TICKET_BYTES + 1000, 1 << 20]) {
      const big = new Uint8Array(size);
      big.set(ticket);
      const spy = new SpyKeys(keys);
      const e = await rejection(open(big, { keys: spy }));
      expect(e.code).toBe("ticket_malformed");
      expect(spy.calls).toEqual([]);
      big[0] = 2; // even with a bad version: length is checked first
      expect((await rejection(open(big, { keys: spy }))).code).toBe("ticket_malformed");
      expect(spy.calls).toEqual([]);
    }
    // Exactly 65535 bytes is looked up (once) and then fails authentication.
    const max = new Uint8Array(MAX_TICKET_BYTES);
    max.set(ticket);
    const spy = new SpyKeys(keys);
    expect((await rejection(open(max, { keys: spy }))).code).toBe("ticket_invalid");
    expect(spy.calls).toEqual([[KEY_ID, CONTEXT]]);
  });
});

describe("tampering", () => {
  for (const withLookupId of [false, true]) {
    it(`every single-bit flip is refused with the right code (${withLookupId ? "with" : "without"} lookup id)`, async () => {
      const ticket = await sealTicket(sealInput({ withLookupId }));
      expect(ticket.length).toBeGreaterThan(140);
      const seen = new Map<string, number>();
      for (let bit = 0; bit < ticket.length * 8; bit++) {
        const t = ticket.slice();
        t[bit >> 3]! ^= 1 << (bit & 7);
        const verdict = headerVerdict(t);
        const e = await rejection(open(t));
        const expected = verdict === "authenticate" ? "ticket_invalid" : verdict;
        if (e.code !== expected) throw new Error(`bit ${bit} (byte ${bit >> 3}): expected ${expected}, got ${e.code}`);
        if (e.code === "key_unknown") {
          expect(e).toBeInstanceOf(KeyUnknownError);
          expect((e as KeyUnknownError).keyId).toBe((t[1]! << 16) | (t[2]! << 8) | t[3]!);
        }
        seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
      }
      // Version byte: 8 flips; key id: 24. The lookup id length byte: from 0, bits 6 and 7 give 64 and 128 (> 32);
      // from 32, every flip but bit 5's (back to 0) gives more than 32. Everything else fails authentication.
      const malformed = withLookupId ? 7 : 2;
      expect(seen.get("ticket_unsupported_version")).toBe(8);
      expect(seen.get("key_unknown")).toBe(24);
      expect(seen.get("ticket_malformed")).toBe(malformed);
      expect(seen.get("ticket_invalid")).toBe(ticket.length * 8 - 8 - 24 - malformed);
    });
  }

  it("every truncation is refused: ticket_malformed while the header is short, then ticket_invalid", async () => {
    for (const withLookupId of [false, true]) {
      const ticket = await sealTicket(sealInput({ withLookupId }));
      const header = 5 + (withLookupId ? 32 : 0) + 12;
      for (let n = 0; n < ticket.length; n++) {
        const e = await rejection(open(ticket.slice(0, n)));
        const expected = n < header + 24 ? "ticket_malformed" : "ticket_invalid";
        expect(headerVerdict(ticket.slice(0, n)) === "authenticate" ? "ticket_invalid" : "ticket_malformed").toBe(expected);
        if (e.code !== expected) throw new Error(`length ${n}: expected ${expected}, got ${e.code}`);
      }
    }
  });

  it("appended bytes are refused as ticket_invalid", async () => {
    const ticket = await sealTicket(sealInput());
    await fc.assert(
      fc.asyncProperty(bytesArb(1, 64), async (extra) => {
        const t = new Uint8Array(ticket.length + extra.length);
        t.set(ticket);
        t.set(extra, ticket.length);
        expect((await rejection(open(t))).code).toBe("ticket_invalid");
      }),
      { numRuns: 100 },
    );
  });

  it("random bytes are refused with a ResumptionError, never anything else", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.boolean(), async (bytes, plausible) => {
        const t = bytes.slice();
        if (plausible && t.length >= 5) {
          // Make the header pass so the bytes reach AES-GCM.
          t.set([1, 0, 0, KEY_ID, t[4]! % 33]);
        }
        const e = await rejection(open(t));
        const verdict = headerVerdict(t);
        expect(e.code).toBe(verdict === "authenticate" ? "ticket_invalid" : verdict);
      }),
      { numRuns: 300 },
    );
  });

  it("a ticket sealed under another key with the same id is ticket_invalid", async () => {
    const other = new TicketKeyCache();
    other.add(KEY_ID, OTHER_MATERIAL);
    const t = await sealTicket(sealInput({ key: await other.subkey(KEY_ID, CONTEXT)! }));
    expect((await rejection(open(t))).code).toBe("ticket_invalid");
  });
});

describe("authenticated bodies the sealer never writes", () => {
  const sessionBytes = () => encodeSession(REFERENCE);
  const seal = (body: Uint8Array<ArrayBuffer>, lookupId?: Uint8Array) =>
    independentSeal({ material: MATERIAL, context: CONTEXT, keyId: KEY_ID, nonce: new Uint8Array(12).fill(3), body, ...(lookupId ? { lookupId } : {}) });
  const times = () => [...leb128(NOW), ...leb128(7200)];

  it("the independent sealer agrees with the core (a well-formed body opens)", async () => {
    const t = await seal(concat([0b10], times(), [32], SESSION_ID, sessionBytes()));
    expect(encodeHex(t)).toBe(encodeHex(await sealTicket(sealInput({ nonce: new Uint8Array(12).fill(3) }))));
    const lookup = await seal(concat([0b01], times(), sessionBytes()), SESSION_ID);
    const opened = await open(lookup);
    expect(opened).toMatchObject({ hasLookupId: true, singleUse: true });
    expect(encodeHex(opened.sessionId)).toBe(encodeHex(SESSION_ID));
  });

  it("a region code sealed after the times (flag bit 2) opens as that region", async () => {
    const t = await seal(concat([0b110], times(), [7], [32], SESSION_ID, sessionBytes()));
    expect((await open(t)).region).toBe(7);
    // The sealer writes exactly that.
    expect(encodeHex(t)).toBe(encodeHex(await sealTicket(sealInput({ nonce: new Uint8Array(12).fill(3), region: 7 }))));
    expect((await open(await sealTicket(sealInput()))).region).toBe(0);
    await expect(sealTicket(sealInput({ region: 256 }))).rejects.toMatchObject({ code: "session_invalid" });
  });

  it("are refused with ticket_malformed, never anything else", async () => {
    const cases: [string, Promise<Uint8Array<ArrayBuffer>>, string][] = [
      ["unknown body flag", seal(concat([0b1010], times(), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["top body flag", seal(concat([0x82], times(), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["session id both in clear and sealed", seal(concat([0b10], times(), [32], SESSION_ID, sessionBytes()), SESSION_ID), "ticket_malformed"],
      ["no session id at all", seal(concat([0], times(), sessionBytes())), "ticket_malformed"],
      ["session id length 0", seal(concat([0b10], times(), [0], sessionBytes())), "ticket_malformed"],
      ["session id length 33", seal(concat([0b10], times(), [33], new Uint8Array(33), sessionBytes())), "ticket_malformed"],
      ["non-canonical issued_at", seal(concat([0b10], [0x80, 0x00], leb128(7200), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["truncated session id", seal(concat([0b10], times(), [32], SESSION_ID.subarray(0, 5))), "ticket_malformed"],
      // Inside a ticket a session that does not decode makes the ticket malformed (a 422, never a request's 400).
      ["no session after the ticket fields", seal(concat([0b10], times(), [1, 7])), "ticket_malformed"],
      ["a byte after the session", seal(concat([0b10], times(), [32], SESSION_ID, sessionBytes(), [0])), "ticket_malformed"],
      ["a truncated session", seal(concat([0b10], times(), [32], SESSION_ID, sessionBytes().subarray(0, 20))), "ticket_malformed"],
      ["a session that breaks a rule", seal(concat([0b10], times(), [32], SESSION_ID, [0, 0], leb128(NOW), leb128(60))), "ticket_malformed"],
      // The times a sealer may write, no others: no lifetime past 7 days (nor one the guard would keep for ever), none from the future.
      ["lifetime 0", seal(concat([0b10], leb128(NOW), leb128(0), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["lifetime 604801", seal(concat([0b10], leb128(NOW), leb128(604_801), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["lifetime 2^53 - 1", seal(concat([0b10], leb128(NOW), leb128(2 ** 53 - 1), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["the region flag with region 0", seal(concat([0b110], times(), [0], [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
      ["the region flag with no byte left", seal(concat([0b110], times())), "ticket_malformed"],
      ["issued 301 s ahead of the clock", seal(concat([0b10], leb128(NOW + 301), leb128(7200), [32], SESSION_ID, sessionBytes())), "ticket_malformed"],
    ];
    for (const [what, ticket, code] of cases) {
      const e = await rejection(open(await ticket));
      expect(e.code, what).toBe(code);
    }
    // At the edges: 604800 s, and 300 s ahead, open.
    expect((await open(await seal(concat([0b10], leb128(NOW), leb128(604_800), [32], SESSION_ID, sessionBytes())))).lifetime).toBe(604_800);
    expect((await open(await seal(concat([0b10], leb128(NOW + 300), leb128(7200), [32], SESSION_ID, sessionBytes())))).issuedAt).toBe(NOW + 300);
  });

  it("an expired ticket is refused before its session is decoded", async () => {
    const t = await seal(concat([0b10], leb128(100), leb128(60), [32], SESSION_ID, [0xff, 0xff]));
    expect((await rejection(open(t))).code).toBe("ticket_expired");
    expect((await rejection(open(t, { now: 100 }))).code).toBe("ticket_malformed");
  });
});

describe("key lookup", () => {
  it("an unknown key id is key_unknown, carrying the lookup id when the ticket has one", async () => {
    const other = new TicketKeyCache();
    other.add(7, OTHER_MATERIAL);
    const k7 = await other.subkey(7, CONTEXT)!;
    for (const withLookupId of [true, false]) {
      const t = await sealTicket(sealInput({ keyId: 7, key: k7, withLookupId }));
      const spy = new SpyKeys(keys);
      const e = await rejection(open(t, { keys: spy }));
      expect(e).toBeInstanceOf(KeyUnknownError);
      expect(isResumptionError(e)).toBe(true);
      expect(e.code).toBe("key_unknown");
      const ku = e as KeyUnknownError;
      expect(ku.keyId).toBe(7);
      if (withLookupId) expect(encodeHex(ku.lookupId!)).toBe(encodeHex(SESSION_ID));
      else expect(ku.lookupId).toBeUndefined();
      expect(spy.calls).toEqual([[7, CONTEXT]]);
      expect(e.message).not.toContain(encodeHex(SESSION_ID));
      // The key that sealed it opens it.
      expect(sessionToJson((await open(t, { keys: other })).session)).toEqual(sessionToJson(REFERENCE));
    }
  });

  it("a removed key makes its tickets key_unknown", async () => {
    const ring = new TicketKeyCache();
    ring.add(3, MATERIAL);
    const t = await sealTicket(sealInput({ keyId: 3, key: await ring.subkey(3, CONTEXT)! }));
    expect((await open(t, { keys: ring })).keyId).toBe(3);
    ring.remove(3);
    expect((await rejection(open(t, { keys: ring }))).code).toBe("key_unknown");
  });

  it("the largest key id round-trips in 24 bits", async () => {
    const ring = new TicketKeyCache();
    ring.add(0xffffff, MATERIAL);
    const t = await sealTicket(sealInput({ keyId: 0xffffff, key: await ring.subkey(0xffffff, CONTEXT)! }));
    expect(encodeHex(t.subarray(1, 4))).toBe("ffffff");
    expect((await open(t, { keys: ring })).keyId).toBe(0xffffff);
  });
});

describe("expiry", () => {
  it("expires at issued_at + lifetime, not a second before", async () => {
    const t = await sealTicket(sealInput({ issuedAt: 1000, lifetime: 60 }));
    for (const now of [700, 999, 1000, 1059]) expect((await open(t, { now })).expiresAt).toBe(1060);
    for (const now of [1060, 1061, NOW]) expect((await rejection(open(t, { now }))).code).toBe("ticket_expired");
  });

  it("holds for random issue times and lifetimes", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 33 }), fc.integer({ min: 1, max: 604_800 }), async (issuedAt, lifetime) => {
        const t = await sealTicket(sealInput({ issuedAt, lifetime }));
        expect((await open(t, { now: issuedAt + lifetime - 1 })).issuedAt).toBe(issuedAt);
        expect((await rejection(open(t, { now: issuedAt + lifetime }))).code).toBe("ticket_expired");
      }),
      { numRuns: 50 },
    );
  });
});

describe("contexts", () => {
  let ticketA: Uint8Array<ArrayBuffer>;
  beforeAll(async () => {
    ticketA = await sealTicket(sealInput({ context: "a", key: await keys.subkey(KEY_ID, "a")! }));
  });

  it("a ticket sealed for a opens in a only", async () => {
    expect((await open(ticketA, { context: "a" })).keyId).toBe(KEY_ID);
    for (const context of ["b", "A", "a ", "", "a\u0000", "default"]) {
      expect((await rejection(open(ticketA, { context }))).code).toBe("ticket_invalid");
    }
  });

  it("a ticket of another context or tampered costs one decryption, under the opening context's key only", async () => {
    const tampered = ticketA.slice();
    tampered[tampered.length - 1]! ^= 1;
    for (const ticket of [ticketA, tampered]) {
      const spy = new SpyKeys(keys);
      expect((await rejection(open(ticket, { context: "b", keys: spy }))).code).toBe("ticket_invalid");
      expect(spy.calls).toEqual([[KEY_ID, "b"]]);
    }
  });
});

describe("sealTicket refuses bad inputs", () => {
  it("with typed errors naming the input", async () => {
    const cases: [Partial<SealInput>, string, string | undefined][] = [
      [{ sessionId: new Uint8Array(0) }, "session_invalid", "session_id"],
      [{ sessionId: new Uint8Array(33) }, "session_invalid", "session_id"],
      [{ keyId: -1 }, "key_invalid", undefined],
      [{ keyId: 2 ** 24 }, "key_invalid", undefined],
      [{ keyId: 1.5 }, "key_invalid", undefined],
      [{ lifetime: 0 }, "session_invalid", "lifetime"],
      [{ lifetime: 604_801 }, "session_invalid", "lifetime"],
      [{ lifetime: 1.5 }, "session_invalid", "lifetime"],
      [{ issuedAt: -1 }, "session_invalid", "issued_at"],
      [{ issuedAt: 1.5 }, "session_invalid", "issued_at"],
      [{ issuedAt: Number.NaN }, "session_invalid", "issued_at"],
      [{ issuedAt: 2 ** 53 }, "session_invalid", "issued_at"],
      [{ nonce: new Uint8Array(11) }, "key_invalid", undefined],
      [{ nonce: new Uint8Array(16) }, "key_invalid", undefined],
    ];
    for (const [over, code, field] of cases) {
      const e = await rejection(sealTicket(sealInput(over)));
      expect([e.code, e.field], JSON.stringify(over)).toEqual([code, field]);
    }
    // Bounds that are fine.
    for (const over of [{ sessionId: new Uint8Array(1) }, { sessionId: new Uint8Array(32) }, { keyId: 0 }, { lifetime: 1 }, { lifetime: 604_800 }, { issuedAt: 0 }]) {
      await expect(sealTicket(sealInput(over))).resolves.toBeInstanceOf(Uint8Array);
    }
  });
});

describe("TicketKeyCache", () => {
  it("refuses bad key ids and material", () => {
    const ring = new TicketKeyCache();
    for (const id of [-1, 2 ** 24, 1.5, Number.NaN]) expect(() => ring.add(id, MATERIAL), String(id)).toThrow(expect.objectContaining({ code: "key_invalid" }));
    for (const n of [0, 16, 31, 33, 64]) expect(() => ring.add(1, new Uint8Array(n)), String(n)).toThrow(expect.objectContaining({ code: "key_invalid" }));
    expect(ring.ids()).toEqual([]);
  });

  it("derives a non-extractable AES-256-GCM subkey once per context, then hands it out synchronously", async () => {
    const ring = new TicketKeyCache();
    ring.add(5, MATERIAL);
    expect(ring.has(5)).toBe(true);
    expect(ring.ids()).toEqual([5]);
    expect(ring.subkey(6, "x")).toBeUndefined();
    const first = ring.subkey(5, "x");
    const again = ring.subkey(5, "x");
    expect(first).toBeInstanceOf(Promise);
    expect(again).toBe(first);
    const k = await first!;
    expect(k.extractable).toBe(false);
    expect(k.algorithm).toMatchObject({ name: "AES-GCM", length: 256 });
    expect([...k.usages].sort()).toEqual(["decrypt", "encrypt"]);
    const cached = ring.subkey(5, "x");
    expect(cached).toBe(k);
    expect(ring.subkey(5, "y")).not.toBe(k);
    ring.remove(5);
    expect(ring.subkey(5, "x")).toBeUndefined();
    expect(ring.has(5)).toBe(false);
  });
});

describe("concurrent seals", () => {
  it("each open to their own session: the shared scratch buffer is copied before encrypt returns", async () => {
    const keys = new TicketKeyCache();
    keys.add(7, new Uint8Array(32).fill(7));
    const key = await keys.subkey(7, "ctx")!;
    const sessions = Array.from({ length: 64 }, (_, i) => ({
      ...parseSession({ opaque: encodeBase64url(new Uint8Array(16 + i).fill(i)), server_name: `host-${i}.example` }, { now: 1_800_000_000, timeout: 60 }),
    }));
    const tickets = await Promise.all(
      sessions.map((session, i) =>
        sealTicket({ session, sessionId: new Uint8Array([i + 1]), withLookupId: false, issuedAt: 1_800_000_000, lifetime: 60, singleUse: false, context: "ctx", keyId: 7, key }),
      ),
    );
    const opened = await Promise.all(tickets.map((t) => openTicket(t, { context: "ctx", now: 1_800_000_001, keys })));
    opened.forEach((o, i) => {
      expect(o.sessionId).toEqual(new Uint8Array([i + 1]));
      expect(o.session.server_name).toBe(`host-${i}.example`);
      expect(o.session.opaque).toEqual(new Uint8Array(16 + i).fill(i));
    });
  });
});
