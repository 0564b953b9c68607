/**
 * Host names as SNI carries them (RFC 6066 3), and the printable ASCII the
 * session codec writes them and ALPN protocols in: validation for the JSON
 * parser, and in-place decoding for the binary decoder, which runs on every
 * ticket opened.
 */
import type { Bytes } from "./encoding.js";

/** Longest host name: 253 characters (RFC 1035's 255 octets on the wire, less the length bytes). */
export const MAX_HOST_NAME = 253;

/**
 * A lowercase DNS host name: dot-separated LDH labels of 1 to 63 characters,
 * no hyphen at either end of a label, 253 characters at most, and a last
 * label that is not a number (all digits, or "0x" and hex digits): the WHATWG
 * URL parser reads any such name as an IPv4 address ("1.2.3.4", but also
 * "0x0a.0.0.1" or "a.1"), which SNI never carries and which would give one
 * address several spellings. One pass, no regex: it runs on every ticket
 * opened.
 */
export function isLowerHostName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > MAX_HOST_NAME) return false;
  let label = 0;
  let labelStart = 0;
  let prev = 0x2e; // as if after a dot
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0 || prev === 0x2d) return false;
      label = 0;
      labelStart = i + 1;
    } else {
      const digit = c >= 0x30 && c <= 0x39;
      const letter = c >= 0x61 && c <= 0x7a;
      if (!digit && !letter && c !== 0x2d) return false;
      if (c === 0x2d && label === 0) return false;
      if (++label > 63) return false;
    }
    prev = c;
  }
  return label > 0 && prev !== 0x2d && !isNumericLabel(name, labelStart, n);
}

/** name[from..to) is a number to the WHATWG URL parser: decimal digits, or "0x" and hex digits (none included). */
function isNumericLabel(name: string, from: number, to: number): boolean {
  let i = from;
  const hex = to - from >= 2 && name.charCodeAt(i) === 0x30 && name.charCodeAt(i + 1) === 0x78;
  if (hex) i += 2;
  for (; i < to; i++) {
    const c = name.charCodeAt(i);
    const digit = c >= 0x30 && c <= 0x39;
    if (!digit && !(hex && c >= 0x61 && c <= 0x66)) return false;
  }
  return true;
}

/** True for a DNS host name as SNI carries it (RFC 6066 3: no IP literal, no trailing dot), in any case. */
export function isHostName(name: string): boolean {
  // ASCII before lowercasing: toLowerCase maps some non-ASCII letters (U+212A KELVIN SIGN) to ASCII ones.
  return isPrintableAscii(name) && isLowerHostName(name.toLowerCase());
}

/** True when every character is printable ASCII, 0x21 to 0x7E (also for ""). */
export function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

/** The n bytes at p as text when all are printable ASCII (no copy); n is at most 255 here. */
export function asciiAt(buf: Bytes, p: number, n: number): string | undefined {
  for (let i = p; i < p + n; i++) if (buf[i]! < 0x21 || buf[i]! > 0x7e) return undefined;
  // Callers bound n (253 or 255): small enough for one fromCharCode call.
  return String.fromCharCode.apply(null, buf.subarray(p, p + n) as unknown as number[]);
}

/**
 * Recently decoded host names, with their bytes, in slots picked by a cheap
 * hash of a few of their bytes: a name seen before is compared byte for byte
 * and reused, with no decoding and no second validation (the cached string
 * passed isLowerHostName when it was decoded). A collision only costs a miss.
 */
const HOST_CACHE_SIZE = 256;
const hostCacheNames: (string | undefined)[] = new Array<string | undefined>(HOST_CACHE_SIZE).fill(undefined);
const hostCacheBytes: Bytes[] = new Array<Bytes>(HOST_CACHE_SIZE).fill(new Uint8Array(0));

/** The n bytes at p as a lowercase host name, or undefined when they are not one. */
export function hostNameAt(buf: Bytes, p: number, n: number): string | undefined {
  if (n === 0) return undefined;
  const slot = (n * 31 + buf[p]! * 7 + buf[p + (n >>> 1)]! * 3 + buf[p + n - 1]!) & (HOST_CACHE_SIZE - 1);
  const cached = hostCacheBytes[slot]!;
  if (cached.length === n) {
    let i = 0;
    while (i < n && cached[i] === buf[p + i]) i++;
    if (i === n) return hostCacheNames[slot];
  }
  const name = asciiAt(buf, p, n);
  if (name === undefined || !isLowerHostName(name)) return undefined;
  hostCacheNames[slot] = name;
  hostCacheBytes[slot] = buf.slice(p, p + n);
  return name;
}
