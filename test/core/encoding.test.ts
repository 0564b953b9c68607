/**
 * base64url and hex: exact, strict, one encoding per byte string. Runs in
 * workerd and in Node.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bytesEqual, decodeBase64url, decodeHex, encodeBase64url, encodeHex, timingSafeEqual, utf8 } from "../../src/core/index.js";

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const hexOf = (b: Uint8Array<ArrayBuffer> | undefined) => (b === undefined ? undefined : encodeHex(b));

/** An oracle the core does not share: the platform's btoa, mapped to the URL alphabet. */
function btoaUrl(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

const B64URL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

describe("base64url", () => {
  it("encodes the RFC 4648 test vectors, unpadded", () => {
    const cases: [string, string][] = [
      ["", ""],
      ["f", "Zg"],
      ["fo", "Zm8"],
      ["foo", "Zm9v"],
      ["foob", "Zm9vYg"],
      ["fooba", "Zm9vYmE"],
      ["foobar", "Zm9vYmFy"],
    ];
    for (const [plain, encoded] of cases) {
      expect(encodeBase64url(ascii(plain))).toBe(encoded);
      expect(hexOf(decodeBase64url(encoded))).toBe(encodeHex(ascii(plain)));
    }
  });

  it("uses - and _ where standard base64 has + and /", () => {
    expect(encodeBase64url(Uint8Array.from([0xfb, 0xff]))).toBe("-_8");
    expect(encodeBase64url(Uint8Array.from([0xff, 0xff, 0xff]))).toBe("____");
    expect(encodeBase64url(Uint8Array.from([0xf8, 0x00, 0x00]))).toBe("-AAA");
    expect(hexOf(decodeBase64url("-_8"))).toBe("fbff");
  });

  it("rejects padding, the standard alphabet, whitespace and other characters", () => {
    for (const text of [
      "Zg==",
      "Zg=",
      "Zm8=",
      "Zm9vYg==",
      "=",
      "====",
      "+_8",
      "-/8",
      "+/8=",
      "ab+c",
      "ab/c",
      " Zm9v",
      "Zm9v ",
      "Zm 9v",
      "Zm9v\n",
      "Zm\r\n9v",
      "Zm9v\t",
      "Zm.v",
      "Zm9v!",
      "Zm9é",
      "Zm9\u0000",
      "Zm9\u{1f600}",
      "ＡＡＡＡ",
    ]) {
      expect(decodeBase64url(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it("rejects a length of 1 mod 4", () => {
    for (const text of ["A", "AAAAA", "Zm9vY", "Zm9vYmFyZ"]) expect(decodeBase64url(text), text).toBeUndefined();
  });

  it("rejects non-canonical trailing bits", () => {
    // "Zg" is "f"; "Zh".."Zv" carry the same byte with non-zero spare bits.
    for (const c of "hijklmnopqrstuv") expect(decodeBase64url(`Z${c}`), `Z${c}`).toBeUndefined();
    // "Zm8" is "fo"; "Zm9" leaves spare bits 01.
    for (const text of ["Zm9", "Zm-", "Zm_", "AB", "AAB", "AAAAAB", "AAAAAAB"]) expect(decodeBase64url(text), text).toBeUndefined();
    expect(hexOf(decodeBase64url("AAA"))).toBe("0000");
    expect(hexOf(decodeBase64url("AQ"))).toBe("01");
  });

  it("round-trips any bytes and agrees with btoa", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const text = encodeBase64url(bytes);
        expect(text).toBe(btoaUrl(bytes));
        expect(text).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(text.length).toBe(Math.ceil((bytes.length * 4) / 3));
        expect(hexOf(decodeBase64url(text))).toBe(encodeHex(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it("has exactly one encoding per byte string: whatever decodes re-encodes to itself", () => {
    const unit = fc.constantFrom(...B64URL_CHARS, "=", "+", "/", " ", "\n", ".", "é");
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: fc.constantFrom(...B64URL_CHARS), maxLength: 24 }), fc.string({ unit, maxLength: 24 })),
        (text) => {
          const bytes = decodeBase64url(text);
          if (bytes !== undefined) expect(encodeBase64url(bytes)).toBe(text);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it("returns a fresh, exactly sized buffer", () => {
    const bytes = decodeBase64url("Zm9vYmE")!;
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect(bytes.length).toBe(5);
    expect(bytes.buffer.byteLength).toBe(5);
  });
});

describe("hex", () => {
  it("encodes lowercase, two digits a byte", () => {
    expect(encodeHex(new Uint8Array(0))).toBe("");
    expect(encodeHex(Uint8Array.from([0, 1, 0x0f, 0x10, 0xab, 0xff]))).toBe("00010f10abff");
  });

  it("decodes lowercase hex of even length only", () => {
    expect(hexOf(decodeHex(""))).toBe("");
    expect(hexOf(decodeHex("00ff7a"))).toBe("00ff7a");
    for (const text of ["0", "abc", "AB", "aB", "00FF", "0x00", "zz", "0g", " 00", "00 ", "0 ", "+1", "-1", "０１", "é0", "00\n"]) {
      expect(decodeHex(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it("round-trips any bytes; whatever decodes re-encodes to itself", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const text = encodeHex(bytes);
        expect(text).toMatch(/^(?:[0-9a-f]{2})*$/);
        expect(text).toBe(Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""));
        expect(hexOf(decodeHex(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(..."0123456789abcdefABCDEFxg "), maxLength: 16 }), (text) => {
        const bytes = decodeHex(text);
        if (bytes !== undefined) expect(encodeHex(bytes)).toBe(text);
        else expect(text).not.toMatch(/^(?:[0-9a-f]{2})*$/);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("comparisons", () => {
  it("bytesEqual and timingSafeEqual are byte equality, lengths included", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), fc.boolean(), (a, b, same) => {
        const other = same ? a.slice() : b;
        const expected = encodeHex(a) === encodeHex(other);
        expect(bytesEqual(a, other)).toBe(expected);
        expect(timingSafeEqual(a, other)).toBe(expected);
      }),
      { numRuns: 500 },
    );
    const a = Uint8Array.from([1, 2, 3]);
    for (const b of [Uint8Array.from([1, 2]), Uint8Array.from([1, 2, 3, 0]), Uint8Array.from([1, 2, 3, 1, 2, 3]), new Uint8Array(0)]) {
      expect(bytesEqual(a, b)).toBe(false);
      expect(timingSafeEqual(a, b)).toBe(false);
      expect(timingSafeEqual(b, a)).toBe(false);
    }
    expect(timingSafeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});

describe("utf8", () => {
  it("refuses invalid UTF-8 instead of guessing", () => {
    expect(utf8.decode(utf8.encode("résumé"))).toBe("résumé");
    for (const bad of [[0xc3, 0x28], [0xff], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
      expect(() => utf8.decode(Uint8Array.from(bad)), bad.join(",")).toThrow();
    }
  });
});
