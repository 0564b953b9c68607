/**
 * Byte-level reader and writer for the compact codecs inside tickets. The
 * reader is defensive by construction: every read checks bounds and every
 * length is checked against what is left before anything is allocated, so a
 * hostile "huge length" costs nothing.
 */
import type { Bytes } from "./encoding.js";
import { ResumptionError, type CoreErrorCode } from "./errors.js";

/** Bytes of the LEB128 varint ByteWriter.varint writes for v. */
export function varintSize(v: number): number {
  // Integer arithmetic below 2^31 (every time and length of a session); the general form above it.
  if (v >= 0 && v <= 0x7fffffff) return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
  let n = 1;
  while (v >= 128) {
    n++;
    v = Math.floor(v / 128);
  }
  return n;
}

/** ByteWriter.varint at a known offset of a buffer large enough; returns the offset after it. */
export function putVarint(buf: Bytes, p: number, v: number): number {
  if (v >= 0 && v <= 0x7fffffff) {
    while (v >= 128) {
      buf[p++] = (v & 127) | 128;
      v >>>= 7;
    }
    buf[p++] = v;
    return p;
  }
  while (v >= 128) {
    buf[p++] = (v % 128) | 128;
    v = Math.floor(v / 128);
  }
  buf[p++] = v;
  return p;
}

export class ByteWriter {
  private buf: Bytes;
  private pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
  }

  /**
   * Reserves n bytes for the caller to fill in place (a codec that knows its
   * exact length writes them with plain indexing, no bounds work per field).
   * Returns the offset of the reserved bytes in `buffer`.
   */
  reserve(n: number): number {
    this.ensure(n);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** The buffer being written (valid until the next write that grows it). */
  get buffer(): Bytes {
    return this.buf;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 255;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf[this.pos++] = v >>> 16;
    this.buf[this.pos++] = (v >>> 8) & 255;
    this.buf[this.pos++] = v & 255;
    return this;
  }

  /** Unsigned LEB128 for integers up to 2^53 - 1. */
  varint(v: number): this {
    this.ensure(8);
    while (v >= 128) {
      this.buf[this.pos++] = (v % 128) | 128;
      v = Math.floor(v / 128);
    }
    this.buf[this.pos++] = v;
    return this;
  }

  bytes(b: Bytes): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  /** A varint length followed by the bytes. */
  lengthPrefixed(b: Bytes): this {
    return this.varint(b.length).bytes(b);
  }

  get length(): number {
    return this.pos;
  }

  finish(): Bytes {
    return this.buf.subarray(0, this.pos);
  }

}

export class ByteReader {
  private pos: number;

  constructor(
    private readonly buf: Bytes,
    /** The code every read failure raises (ticket_malformed, session_invalid, …). */
    private readonly errorCode: CoreErrorCode,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  /** The buffer read (for a decoder that reads bytes in place: see skip). */
  get buffer(): Bytes {
    return this.buf;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(message: string): never {
    throw new ResumptionError(this.errorCode, message);
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) this.fail(`truncated ${what}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what: string): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u24(what: string): number {
    this.need(3, what);
    const v = (this.buf[this.pos]! << 16) | (this.buf[this.pos + 1]! << 8) | this.buf[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(what: string): number {
    this.need(4, what);
    const p = this.pos;
    this.pos += 4;
    return ((this.buf[p]! << 8) | this.buf[p + 1]!) * 65536 + ((this.buf[p + 2]! << 8) | this.buf[p + 3]!);
  }

  /** Unsigned LEB128, canonical (no redundant trailing zero groups), at most 2^53 - 1. */
  varint(what: string): number {
    // One byte, the common case for small values (lengths, counts): small enough for V8 to inline into the decoders.
    if (this.pos < this.end) {
      const b = this.buf[this.pos]!;
      if (b < 128) {
        this.pos++;
        return b;
      }
    }
    return this.longVarint(what);
  }

  private longVarint(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.u8(what);
      value += (b & 127) * scale;
      if ((b & 128) === 0) {
        if (b === 0 && i > 0) this.fail(`non-canonical ${what}`);
        if (value > Number.MAX_SAFE_INTEGER) this.fail(`${what} out of range`);
        return value;
      }
      scale *= 128;
    }
    return this.fail(`${what} out of range`);
  }

  bytes(n: number, what: string): Bytes {
    this.need(n, what);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** The next n bytes as a view into the buffer (no copy): for data the caller only reads. */
  view(n: number, what: string): Bytes {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /**
   * Moves past the next n bytes and returns the offset they start at in
   * `buffer`: for a decoder that reads them in place (no view, no copy).
   */
  skip(n: number, what: string): number {
    this.need(n, what);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  /** A varint length, at most max and no more than what is left (checked before anything is allocated). */
  length(what: string, max = Number.MAX_SAFE_INTEGER): number {
    // varint(`${what} length`) without building the label unless it is needed.
    let n: number;
    if (this.pos < this.end && this.buf[this.pos]! < 128) n = this.buf[this.pos++]!;
    else n = this.longVarint(`${what} length`);
    if (n > max) this.fail(`${what} longer than ${max} bytes`);
    this.need(n, what);
    return n;
  }

  /** A varint length (see length) and the bytes. */
  lengthPrefixed(what: string, max = Number.MAX_SAFE_INTEGER): Bytes {
    return this.bytes(this.length(what, max), what);
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} unexpected bytes after ${what}`);
  }
}
