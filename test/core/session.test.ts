/**
 * The session record: JSON validation (parseSession), host names, and the
 * binary codec. Runs in workerd and in Node.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeSession,
  encodeBase64url,
  encodeHex,
  encodeSession,
  isHostName,
  parseSession,
  ResumptionError,
  SESSION_LIMITS,
  sessionToJson,
  type Session,
} from "../../src/core/index.js";
import { ByteReader, ByteWriter, readSession } from "../../src/core/internal.js";
import { DEFAULTS, RUNS, sessionJsonArb } from "./support.js";

const b64 = (n: number, fill = 7) => encodeBase64url(new Uint8Array(n).fill(fill));

/** A valid TLS 1.2 session: the base every single-field test changes one field of. */
const TLS12 = {
  version: "TLSv1.2",
  cipher_suite: 0xc02b,
  master_secret: b64(48),
  extended_master_secret: true,
  server_name: "resume.example-a.com",
  created_at: 1_767_225_600,
  timeout: 7200,
};
const TLS13 = {
  version: "TLSv1.3",
  cipher_suite: 0x1301,
  master_secret: b64(32),
  ticket_age_add: 0x12345678,
  max_early_data: 16384,
  alpn: "h2",
  created_at: 1_767_225_600,
  timeout: 7200,
};
const OPAQUE = { opaque: b64(40) };

/** The ResumptionError parseSession throws (fails the test if it returns). */
function parseError(input: unknown, path?: string, extra?: readonly string[]): ResumptionError {
  try {
    parseSession(input, DEFAULTS, path, extra);
  } catch (e) {
    expect(e).toBeInstanceOf(ResumptionError);
    return e as ResumptionError;
  }
  throw new Error(`parseSession accepted ${JSON.stringify(input).slice(0, 200)}`);
}

function expectIssues(input: unknown, fields: string[]): ResumptionError {
  const err = parseError(input);
  expect(err.code).toBe("session_invalid");
  expect(err.issues.map((i) => i.field).sort()).toEqual(fields.map((f) => `session.${f}`).sort());
  for (const i of err.issues) {
    expect(i.message.length).toBeGreaterThan(0);
    expect(err.message).toContain(i.field);
  }
  expect(err.field).toBe(err.issues[0]!.field);
  return err;
}

describe("parseSession: each field's wrong type or range is one issue naming that field", () => {
  const bad: Record<string, unknown[]> = {
    version: ["TLSv1.4", "tlsv1.2", "SSLv3", "", 3, null, true, ["TLSv1.2"]],
    cipher_suite: [-1, 0x10000, 1.5, "49195", null, Number.NaN, Infinity, false],
    master_secret: [123, null, "AAAA=", "ab+/", "ab c", "", "A", "Zh", b64(49), ["AAAA"], encodeBase64url(new Uint8Array(48)) + "=="],
    extended_master_secret: ["true", 1, 0, null, {}],
    encrypt_then_mac: ["false", 1, null],
    server_name: [
      "",
      "192.168.0.1",
      "10",
      "1.2.3.4.5",
      "example.com.",
      ".example.com",
      "a..b",
      "-bad.example",
      "bad-.example",
      "under_score.example",
      "sp ace.example",
      "[::1]",
      "::1",
      "bücher.example",
      `${"a".repeat(64)}.example`,
      `${"a.".repeat(126)}ab`, // 254 characters
      42,
      null,
    ],
    alpn: ["", "h 2", "h2\n", "é", "\u0000", "a".repeat(256), 2, null, ["h2"]],
    peer_certificate_chain: ["AAAA", {}, null, Array.from({ length: 17 }, () => "AAAA")],
    max_fragment_length: [0, 1, 4, 1000, 8192, "512", null, 512.5],
    ticket_age_add: [-1, 2 ** 32, 1.5, "1", null],
    max_early_data: [-1, 2 ** 32, 0.5, "0", null],
    created_at: [-1, 2 ** 33 + 1, 1.5, "now", null],
    timeout: [0, -5, 604_801, 1.5, "60", null],
    opaque: ["", "A", "AA==", "+/+/", 5, null, b64(49_153)],
  };
  for (const [field, values] of Object.entries(bad)) {
    it(field, () => {
      // TLS-1.3-only fields are checked on a TLS 1.3 base; every other on TLS 1.2.
      const base = field === "ticket_age_add" || field === "max_early_data" ? TLS13 : TLS12;
      for (const value of values) {
        const err = expectIssues({ ...base, [field]: value }, [field]);
        expect(err.issues).toHaveLength(1);
      }
    });
  }

  it("a bad certificate in the chain is named by its index", () => {
    for (const [chain, index] of [
      [[b64(10), 7], 1],
      [["", b64(3)], 0],
      [[b64(10), b64(10), "A+A"], 2],
      [[encodeBase64url(new Uint8Array(SESSION_LIMITS.maxCertificate + 1))], 0],
    ] as const) {
      expectIssues({ ...TLS12, peer_certificate_chain: chain }, [`peer_certificate_chain[${index}]`]);
    }
  });

  it("accepts every field at its bounds", () => {
    const ok = (input: Record<string, unknown>) => expect(() => parseSession(input, DEFAULTS)).not.toThrow();
    for (const cipher_suite of [0, 0xffff]) ok({ ...TLS12, cipher_suite });
    for (const created_at of [0, 2 ** 33]) ok({ ...TLS12, created_at });
    for (const timeout of [1, 604_800]) ok({ ...TLS12, timeout });
    for (const max_fragment_length of [512, 1024, 2048, 4096]) ok({ ...TLS12, max_fragment_length });
    for (const ticket_age_add of [0, 0xffffffff]) ok({ ...TLS13, ticket_age_add });
    for (const max_early_data of [0, 0xffffffff]) ok({ ...TLS13, max_early_data });
    ok({ ...TLS12, alpn: "!".repeat(255) });
    ok({ ...TLS12, alpn: "~" });
    ok({ ...TLS12, server_name: `${"a".repeat(63)}.example` });
    ok({ ...TLS12, server_name: `${"a.".repeat(125)}abc` }); // 253 characters
    ok({ ...TLS12, peer_certificate_chain: [] });
    ok({ ...TLS12, peer_certificate_chain: Array.from({ length: 16 }, () => b64(1)) });
    ok({ ...TLS12, peer_certificate_chain: [encodeBase64url(new Uint8Array(SESSION_LIMITS.maxCertificate))] });
    ok({ opaque: b64(1) });
    ok({ opaque: b64(SESSION_LIMITS.maxOpaque) });
    ok({ ...TLS12, extended_master_secret: false, encrypt_then_mac: true });
  });

  it("several wrong fields at once give one issue each", () => {
    const err = expectIssues(
      { version: "TLSv9", cipher_suite: -1, master_secret: "==", alpn: "", timeout: 0, opaque: 1, bogus: true, server_name: "1.2.3.4" },
      ["version", "cipher_suite", "master_secret", "alpn", "timeout", "opaque", "bogus", "server_name"],
    );
    expect(new Set(err.issues.map((i) => i.field)).size).toBe(err.issues.length);
  });

  it("lists unknown fields first, then the wrong ones in the API's field order; `field` is the first", () => {
    const err = parseError({ timeout: 0, created_at: -1, bogus: 1, encrypt_then_mac: 1, opaque: 1, version: "TLSv9", extended_master_secret: "yes" });
    const order = ["bogus", "version", "extended_master_secret", "encrypt_then_mac", "created_at", "timeout", "opaque"].map((f) => `session.${f}`);
    expect(err.issues.map((i) => i.field)).toEqual(order);
    expect(err.field).toBe("session.bogus");
    expect(err.message).toBe(err.issues.map((i) => `${i.field}: ${i.message}`).join("; "));
  });

  it("rules between fields are not reported when a field is already malformed", () => {
    // master_secret malformed: no "needs master_secret or opaque", no length rule.
    expectIssues({ version: "TLSv1.2", cipher_suite: 1, master_secret: "A=" }, ["master_secret"]);
    // version malformed: no "version and cipher_suite go together".
    expectIssues({ version: 12, cipher_suite: 1, master_secret: b64(48) }, ["version"]);
  });

  it("an unknown field is rejected, even one named like an Object.prototype member", () => {
    expectIssues({ ...TLS12, session_id: "AAAA" }, ["session_id"]);
    expectIssues({ ...TLS12, MASTER_SECRET: "x" }, ["MASTER_SECRET"]);
    expectIssues(JSON.parse(`{"opaque":"AAAA","__proto__":{"x":1}}`), ["__proto__"]);
    expectIssues({ ...OPAQUE, constructor: 1 }, ["constructor"]);
  });

  it("extraFields lets the caller own a field; path prefixes every field", () => {
    expect(() => parseSession({ ...TLS12, session_id: "AAAA" }, DEFAULTS, "session", ["session_id"])).not.toThrow();
    const err = parseError({ ...TLS12, cipher_suite: "x", foo: 1 }, "body.sessions[3]");
    expect(err.issues.map((i) => i.field).sort()).toEqual(["body.sessions[3].cipher_suite", "body.sessions[3].foo"]);
  });

  it("a non-object is one issue naming the path", () => {
    for (const input of [null, undefined, [], "session", 5, true]) {
      const err = parseError(input, "s");
      expect(err.code).toBe("session_invalid");
      expect(err.issues).toEqual([{ field: "s", message: expect.any(String) }]);
    }
  });

  it("fills created_at and timeout from the defaults, booleans with false", () => {
    const s = parseSession({ opaque: "AAAA" }, { now: 123, timeout: 456 });
    expect(sessionToJson(s)).toEqual({ opaque: "AAAA", created_at: 123, timeout: 456, extended_master_secret: false, encrypt_then_mac: false });
  });
});

describe("parseSession: rules between fields", () => {
  it("needs master_secret or opaque", () => {
    expectIssues({ version: "TLSv1.2", cipher_suite: 1 }, ["master_secret"]);
    expectIssues({}, ["master_secret"]);
    expectIssues({ server_name: "a.example", alpn: "h2" }, ["master_secret"]);
    expect(() => parseSession({ version: "TLSv1.2", cipher_suite: 1, opaque: "AAAA" }, DEFAULTS)).not.toThrow();
  });

  it("master_secret length depends on the version", () => {
    for (const version of ["TLSv1", "TLSv1.1", "TLSv1.2"]) {
      expect(() => parseSession({ ...TLS12, version, master_secret: b64(48) }, DEFAULTS)).not.toThrow();
      for (const n of [1, 32, 47]) expectIssues({ ...TLS12, version, master_secret: b64(n) }, ["master_secret"]);
    }
    for (const n of [32, 48]) expect(() => parseSession({ ...TLS13, master_secret: b64(n) }, DEFAULTS)).not.toThrow();
    for (const n of [1, 31, 33, 47]) expectIssues({ ...TLS13, master_secret: b64(n) }, ["master_secret"]);
  });

  it("master_secret needs version and cipher_suite, each reported once", () => {
    expectIssues({ master_secret: b64(48) }, ["version", "cipher_suite"]);
    expectIssues({ version: "TLSv1.2", master_secret: b64(48) }, ["cipher_suite"]);
    expectIssues({ cipher_suite: 1, master_secret: b64(48) }, ["version"]);
  });

  it("version and cipher_suite go together, also without a master secret", () => {
    expectIssues({ ...OPAQUE, version: "TLSv1.2" }, ["cipher_suite"]);
    expectIssues({ ...OPAQUE, cipher_suite: 1 }, ["version"]);
  });

  it("TLS 1.3 refuses the TLS 1.2 extensions; up to TLS 1.2 refuses the TLS 1.3 fields", () => {
    expectIssues({ ...TLS13, extended_master_secret: true }, ["extended_master_secret"]);
    expectIssues({ ...TLS13, encrypt_then_mac: true }, ["encrypt_then_mac"]);
    expectIssues({ ...TLS13, extended_master_secret: true, encrypt_then_mac: true }, ["extended_master_secret", "encrypt_then_mac"]);
    expect(() => parseSession({ ...TLS13, extended_master_secret: false, encrypt_then_mac: false }, DEFAULTS)).not.toThrow();
    for (const version of ["TLSv1", "TLSv1.1", "TLSv1.2"]) {
      expectIssues({ ...TLS12, version, ticket_age_add: 1 }, ["ticket_age_add"]);
      expectIssues({ ...TLS12, version, max_early_data: 0 }, ["max_early_data"]);
    }
  });

  it("an opaque-only session (no version) may carry any optional field", () => {
    const s = parseSession(
      { ...OPAQUE, ticket_age_add: 9, max_early_data: 10, extended_master_secret: true, encrypt_then_mac: true, alpn: "h2" },
      DEFAULTS,
    );
    expect(s.version).toBeUndefined();
    expect(s.ticket_age_add).toBe(9);
  });
});

describe("server_name", () => {
  it("is lowercased", () => {
    expect(parseSession({ ...TLS12, server_name: "Resume.Example-A.COM" }, DEFAULTS).server_name).toBe("resume.example-a.com");
    expect(parseSession({ ...TLS12, server_name: "XN--BCHER-KVA.EXAMPLE" }, DEFAULTS).server_name).toBe("xn--bcher-kva.example");
  });

  it("isHostName: DNS names yes; IP literals, trailing dots and non-LDH no", () => {
    for (const name of ["localhost", "a", "a.b", "1.2.3.4a", "example.com", "a-b.c-d.e", "123.example", "x.0xg", "x.0x1z", "a.x0", `${"a".repeat(63)}.b`]) {
      expect(isHostName(name), name).toBe(true);
    }
    // Names ending in a number are IPv4 addresses to the WHATWG URL parser, valid ones or not.
    const endsInNumber = ["1a.2.3.4", "x.1", "0x0a.0.0.1", "0xa.0.0.1", "10.0.0.0x1", "0x7f000001", "1e1.0.0.1", "a.1", "a.0x", "a.0X1F"];
    for (const name of ["", "1.2.3.4", "127.0.0.1", "255.255.255.255", "10", "example.com.", ".", "a..b", "::1", "[::1]", "fe80::1", "a_b", "a b", "-a", "a-", "é.example", "a.b/c", "a:443", ...endsInNumber]) {
      expect(isHostName(name), name).toBe(false);
    }
  });
});

describe("server_name when decoding", () => {
  // The decoder keeps recently decoded names, in slots picked by a few of
  // their bytes: names alike in length and in those bytes share a slot.
  const session = parseSession(TLS12, DEFAULTS);
  const decodedName = (name: string) => decodeSession(encodeSession({ ...session, server_name: name })).server_name;

  it("gives back each name, also when names that share a slot alternate", () => {
    const names = ["a1c.example.com", "a2c.example.com", "a1c.exbmple.com", "a3c.exampl0.com"];
    for (let round = 0; round < 3; round++) for (const name of names) expect(decodedName(name)).toBe(name);
  });

  it("refuses a name that is not a lowercase host name, right after a valid one of the same shape", () => {
    expect(decodedName("a1c.example.com")).toBe("a1c.example.com");
    for (const bad of ["a1C.example.com", "a1c.exa_ple.com", "a1c..xample.com"]) {
      expect(() => decodedName(bad), bad).toThrowError(/server_name is not a lowercase host name/);
    }
    expect(decodedName("a1c.example.com")).toBe("a1c.example.com");
  });
});

describe("varints (docs/ticket-format.md)", () => {
  it("encode the documented examples and decode them back", () => {
    const examples: [number, string][] = [
      [0, "00"],
      [127, "7f"],
      [128, "8001"],
      [7200, "a038"],
      [604_800, "80f524"],
      [1_767_225_600, "80f2d6ca06"],
      [Number.MAX_SAFE_INTEGER, "ffffffffffffff0f"],
    ];
    for (const [n, hex] of examples) {
      expect(encodeHex(new ByteWriter().varint(n).finish()), String(n)).toBe(hex);
      const r = new ByteReader(new ByteWriter().varint(n).finish(), "ticket_malformed");
      expect(r.varint("n")).toBe(n);
      expect(r.remaining).toBe(0);
    }
  });

  it("refuse redundant zero groups, more than 8 bytes and values past 2^53 - 1", () => {
    for (const bytes of [[0x80, 0x00], [0xff, 0x80, 0x00], [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10], [0x80]]) {
      const r = new ByteReader(Uint8Array.from(bytes), "ticket_malformed");
      expect(() => r.varint("n"), bytes.join(",")).toThrow(expect.objectContaining({ code: "ticket_malformed" }));
    }
  });

  it("round-trip every safe integer", () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        const r = new ByteReader(new ByteWriter().varint(n).finish(), "session_invalid");
        expect(r.varint("n")).toBe(n);
        expect(r.remaining).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});

describe("binary codec", () => {
  it("round-trips every valid session, and the JSON is a fixed point", () => {
    fc.assert(
      fc.property(sessionJsonArb, (json) => {
        const s = parseSession(json, DEFAULTS);
        const bytes = encodeSession(s);
        const back = decodeSession(bytes);
        expect(sessionToJson(back)).toEqual(sessionToJson(s));
        expect(encodeHex(encodeSession(back))).toBe(encodeHex(bytes));
        expect(sessionToJson(parseSession(sessionToJson(s), { now: 0, timeout: 1 }))).toEqual(sessionToJson(s));
      }),
      RUNS,
    );
  });

  it("is canonical: a mutated encoding either fails with session_invalid or re-encodes to the same bytes", () => {
    fc.assert(
      fc.property(sessionJsonArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (json, at, xor) => {
        const bytes = encodeSession(parseSession(json, DEFAULTS)).slice();
        const i = at % bytes.length;
        bytes[i]! ^= xor;
        let s: Session;
        try {
          s = decodeSession(bytes);
        } catch (e) {
          expect(e).toBeInstanceOf(ResumptionError);
          expect((e as ResumptionError).code).toBe("session_invalid");
          return;
        }
        expect(encodeHex(encodeSession(s))).toBe(encodeHex(bytes));
      }),
      RUNS,
    );
  });

  it("random bytes never throw anything but session_invalid", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => {
        try {
          const s = decodeSession(bytes);
          expect(encodeHex(encodeSession(s))).toBe(encodeHex(bytes));
        } catch (e) {
          expect(e).toBeInstanceOf(ResumptionError);
          expect((e as ResumptionError).code).toBe("session_invalid");
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("every truncation and every appended byte is session_invalid", () => {
    const bytes = encodeSession(parseSession({ ...TLS13, server_name: "a.example", peer_certificate_chain: [b64(20)], opaque: b64(9) }, DEFAULTS));
    for (let n = 0; n < bytes.length; n++) {
      expect(() => decodeSession(bytes.slice(0, n)), `length ${n}`).toThrow(expect.objectContaining({ code: "session_invalid" }));
    }
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(() => decodeSession(longer)).toThrow(expect.objectContaining({ code: "session_invalid" }));
  });

  /** A hand-written session: flags, created_at, timeout, then whatever `rest` writes. */
  const craft = (flags: number, rest: (w: ByteWriter) => void, createdAt = 1, timeout = 60) => {
    const w = new ByteWriter().u16(flags).varint(createdAt).varint(timeout);
    rest(w);
    return w.finish();
  };
  const OPAQUE_BIT = 1 << 10;
  const withOpaque = (w: ByteWriter) => w.varint(1).u8(0xaa);

  it("decodes a minimal hand-written session", () => {
    expect(sessionToJson(decodeSession(craft(OPAQUE_BIT, withOpaque)))).toEqual({
      extended_master_secret: false,
      encrypt_then_mac: false,
      created_at: 1,
      timeout: 60,
      opaque: "qg",
    });
  });

  it("refuses hand-written sessions that break a rule", () => {
    const cases: [string, Uint8Array<ArrayBuffer>][] = [
      ["unknown flag bit", craft(OPAQUE_BIT | (1 << 11), withOpaque)],
      ["top flag bit", craft(OPAQUE_BIT | (1 << 15), withOpaque)],
      ["no secret, no opaque", craft(0, () => {})],
      ["timeout 0", craft(OPAQUE_BIT, withOpaque, 1, 0)],
      ["timeout past 7 days", craft(OPAQUE_BIT, withOpaque, 1, 604_801)],
      ["created_at past 2^33", craft(OPAQUE_BIT, withOpaque, 2 ** 33 + 1)],
      ["empty opaque", craft(OPAQUE_BIT, (w) => w.varint(0))],
      ["opaque past its limit", craft(OPAQUE_BIT, (w) => w.varint(SESSION_LIMITS.maxOpaque + 1).bytes(new Uint8Array(SESSION_LIMITS.maxOpaque + 1)))],
      ["version code 0", craft(1 | OPAQUE_BIT, (w) => withOpaque(w.u8(0).u16(1)))],
      ["version code 5", craft(1 | OPAQUE_BIT, (w) => withOpaque(w.u8(5).u16(1)))],
      ["TLS 1.2 with a 32-byte secret", craft(1 | 2, (w) => w.u8(3).u16(1).u8(32).bytes(new Uint8Array(32)))],
      ["empty master secret", craft(1 | 2, (w) => w.u8(3).u16(1).u8(0))],
      ["uppercase server_name", craft(OPAQUE_BIT | 16, (w) => withOpaque(w.varint(3).bytes(new TextEncoder().encode("A.B"))))],
      ["IPv4 server_name", craft(OPAQUE_BIT | 16, (w) => withOpaque(w.varint(7).bytes(new TextEncoder().encode("1.2.3.4"))))],
      ["invalid UTF-8 alpn", craft(OPAQUE_BIT | 32, (w) => withOpaque(w.varint(2).bytes(Uint8Array.from([0xc3, 0x28]))))],
      ["non-printable alpn", craft(OPAQUE_BIT | 32, (w) => withOpaque(w.varint(1).u8(0x20)))],
      ["17 certificates", craft(OPAQUE_BIT | 64, (w) => withOpaque(w.varint(17)))],
      ["empty certificate", craft(OPAQUE_BIT | 64, (w) => withOpaque(w.varint(1).varint(0)))],
      ["max_fragment_length code 0", craft(OPAQUE_BIT | 128, (w) => withOpaque(w.u8(0)))],
      ["max_fragment_length code 5", craft(OPAQUE_BIT | 128, (w) => withOpaque(w.u8(5)))],
      ["max_early_data past 2^32-1", craft(OPAQUE_BIT | 512, (w) => withOpaque(w.varint(2 ** 32)))],
      ["TLS 1.2 with max_early_data", craft(1 | 2 | 512, (w) => w.u8(3).u16(1).u8(48).bytes(new Uint8Array(48)).varint(0))],
      ["TLS 1.3 with extended_master_secret", craft(1 | 2 | 4, (w) => w.u8(4).u16(1).u8(32).bytes(new Uint8Array(32)))],
      ["non-canonical varint", Uint8Array.from([0x04, 0x00, 0x81, 0x00, 0x3c, 0x01, 0xaa])],
      ["varint past 2^53", Uint8Array.from([0x04, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x3c, 0x01, 0xaa])],
    ];
    for (const [what, bytes] of cases) {
      expect(() => decodeSession(bytes), what).toThrow(expect.objectContaining({ code: "session_invalid" }));
    }
  });

  it("names the field and what is wrong with it, the first fault in reading order", () => {
    const TLS12_SECRET = (w: ByteWriter) => w.u8(3).u16(1).u8(48).bytes(new Uint8Array(48));
    const cases: [Uint8Array<ArrayBuffer>, string][] = [
      [Uint8Array.of(0x04), "truncated session flags"],
      [craft(OPAQUE_BIT | (1 << 11), withOpaque), "unknown session flags"],
      [Uint8Array.of(0x04, 0x00, 0x01), "truncated timeout"],
      [craft(OPAQUE_BIT, withOpaque, 2 ** 33 + 1), "created_at out of range"],
      [craft(OPAQUE_BIT, withOpaque, 1, 0), "timeout out of range"],
      [craft(1 | OPAQUE_BIT, (w) => withOpaque(w.u8(5).u16(1))), "unknown TLS version"],
      [craft(1 | OPAQUE_BIT, (w) => w.u8(3).u8(0)), "truncated cipher_suite"],
      [craft(1 | 2, (w) => w.u8(3).u16(1).u8(48).bytes(new Uint8Array(47))), "truncated master_secret"],
      [craft(OPAQUE_BIT | 16, (w) => w.varint(254)), "server_name longer than 253 bytes"],
      [craft(OPAQUE_BIT | 16, (w) => w.varint(5).bytes(new TextEncoder().encode("a.b"))), "truncated server_name"],
      [craft(OPAQUE_BIT | 32, (w) => withOpaque(w.varint(0))), "alpn is not printable ASCII"],
      [craft(OPAQUE_BIT | 64, (w) => withOpaque(w.varint(17))), "too many certificates"],
      [craft(OPAQUE_BIT | 64, (w) => withOpaque(w.varint(1).varint(0))), "empty certificate"],
      [craft(OPAQUE_BIT | 64, (w) => w.varint(1).varint(65_536)), "certificate longer than 65535 bytes"],
      [craft(OPAQUE_BIT | 128, (w) => withOpaque(w.u8(9))), "unknown max_fragment_length"],
      [craft(OPAQUE_BIT | 256, (w) => w.u8(1).u8(2)), "truncated ticket_age_add"],
      [craft(OPAQUE_BIT | 512, (w) => withOpaque(w.varint(2 ** 32))), "max_early_data out of range"],
      [craft(OPAQUE_BIT, (w) => w.varint(0)), "empty opaque"],
      [craft(OPAQUE_BIT, (w) => w.u8(0x80).u8(0x00)), "non-canonical opaque length"],
      [craft(1 | 2 | 512, (w) => TLS12_SECRET(w).varint(0)), "session.max_early_data: applies only to TLSv1.3"],
      [craft(0, () => {}), "session.master_secret: a session needs master_secret or opaque"],
    ];
    for (const [bytes, message] of cases) {
      expect(() => decodeSession(bytes), message).toThrow(expect.objectContaining({ code: "session_invalid", message }));
    }
  });

  it("readSession fails with session_invalid whatever the reader's code, and moves the reader past the session", () => {
    const bytes = encodeSession(parseSession({ ...TLS12, opaque: b64(5) }, DEFAULTS));
    const framed = new Uint8Array(bytes.length + 4);
    framed.set(bytes, 3);
    const r = new ByteReader(framed, "ticket_malformed", 3);
    const s = readSession(r, false);
    expect(r.offset).toBe(3 + bytes.length);
    expect(s.opaque!.buffer).toBe(framed.buffer); // copy false: a view
    expect(readSession(new ByteReader(framed, "ticket_malformed", 3)).opaque!.buffer).not.toBe(framed.buffer);
    expect(() => readSession(new ByteReader(framed, "ticket_malformed", 3, 3 + bytes.length - 1))).toThrow(
      expect.objectContaining({ code: "session_invalid", message: "truncated opaque" }),
    );
  });
});

describe("server_name is ASCII before it is lowercased", () => {
  it("refuses U+212A KELVIN SIGN, which toLowerCase maps to k", () => {
    expect(isHostName("\u212Aey.example.com")).toBe(false);
    expect(isHostName("Key.Example.com")).toBe(true);
  });
});
