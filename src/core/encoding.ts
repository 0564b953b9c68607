/**
 * base64url (RFC 4648 section 5, no padding) and lowercase hex, strict in what
 * they accept: a decoder that silently skipped bad characters would let two
 * different strings name the same ticket or session.
 */

/** Bytes backed by a plain ArrayBuffer: what WebCrypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const B64URL_VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < B64URL.length; i++) B64URL_VALUE[B64URL.charCodeAt(i)] = i;

const B64URL_CODES = Uint8Array.from(B64URL, (c) => c.charCodeAt(0));

export function encodeBase64url(bytes: Bytes): string {
  // Characters are written as bytes and decoded once: far cheaper than
  // growing a string four characters at a time.
  const n = bytes.length;
  const out = new Uint8Array(Math.ceil((n * 4) / 3));
  let o = 0;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = B64URL_CODES[v >> 18]!;
    out[o++] = B64URL_CODES[(v >> 12) & 63]!;
    out[o++] = B64URL_CODES[(v >> 6) & 63]!;
    out[o++] = B64URL_CODES[v & 63]!;
  }
  if (i < n) {
    const v = (bytes[i]! << 16) | ((i + 1 < n ? bytes[i + 1]! : 0) << 8);
    out[o++] = B64URL_CODES[v >> 18]!;
    out[o++] = B64URL_CODES[(v >> 12) & 63]!;
    if (i + 1 < n) out[o++] = B64URL_CODES[(v >> 6) & 63]!;
  }
  return asciiDecoder.decode(out.subarray(0, o));
}

/**
 * Decodes unpadded base64url. Returns undefined for any other input (padding,
 * standard-alphabet characters, whitespace, a length of 1 mod 4, or non-zero
 * trailing bits), so that each byte string has exactly one encoding.
 */
export function decodeBase64url(text: string): Bytes | undefined {
  const len = text.length;
  if (len % 4 === 1) return undefined;
  const out = new Uint8Array(Math.floor((len * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < len; i += 4) {
    const a = value(text, i), b = value(text, i + 1), c = value(text, i + 2), d = value(text, i + 3);
    if ((a | b | c | d) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >> 16;
    out[o++] = (v >> 8) & 255;
    out[o++] = v & 255;
  }
  const rest = len - i;
  if (rest >= 2) {
    const a = value(text, i), b = value(text, i + 1);
    const c = rest === 3 ? value(text, i + 2) : 0;
    if ((a | b | c) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6);
    // Canonical form only: the bits past the last whole byte must be zero.
    if (rest === 2 ? (v & 0xffff) !== 0 : (v & 0xff) !== 0) return undefined;
    out[o++] = v >> 16;
    if (rest === 3) out[o++] = (v >> 8) & 255;
  }
  return out;
}

function value(text: string, i: number): number {
  const c = text.charCodeAt(i);
  return c < 128 ? B64URL_VALUE[c]! : -1;
}

const HEX_CODES = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

export function encodeHex(bytes: Bytes): string {
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_CODES[bytes[i]! >> 4]!;
    out[2 * i + 1] = HEX_CODES[bytes[i]! & 15]!;
  }
  return asciiDecoder.decode(out);
}

/** Decodes lowercase hex of even length; undefined for anything else. */
export function decodeHex(text: string): Bytes | undefined {
  if (text.length % 2 !== 0) return undefined;
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = hexValue(text.charCodeAt(2 * i));
    const lo = hexValue(text.charCodeAt(2 * i + 1));
    if ((hi | lo) < 0) return undefined;
    out[i] = (hi << 4) | lo;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

export function bytesEqual(a: Bytes, b: Bytes): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Equality whose time depends only on the lengths, for secrets and token hashes. */
export function timingSafeEqual(a: Bytes, b: Bytes): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a[i % (a.length || 1)] ?? 0) ^ (b[i % (b.length || 1)] ?? 0);
  return diff === 0;
}

export const utf8 = {
  encode: (s: string): Bytes => textEncoder.encode(s),
  decode: (b: Bytes): string => textDecoder.decode(b),
};
const textEncoder = new TextEncoder();
// fatal: invalid UTF-8 inside a session is a corrupt record, not a string to guess at.
const textDecoder = new TextDecoder("utf-8", { fatal: true });
// For bytes known to be ASCII (base64url, hex): decoding them once is cheap.
const asciiDecoder = new TextDecoder("utf-8");
