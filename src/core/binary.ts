/**
 * Byte-level reader and writer for the compact codecs inside tickets. The
 * reader is defensive by construction: every read checks bounds and every
 * length is checked against what is left before anything is allocated, so a
 * hostile "huge length" costs nothing.
 */
import type { Bytes } from "./encoding.js";
import { ResumptionError, type CoreErrorCode } from "./errors.js";

/** Shared by scratch writers; grows when a larger encoding needs it. */
let scratchBuffer = new Uint8Array(1024);

/**
 * The shared scratch buffer, at least n bytes long: the same contract as
 * ByteWriter.scratch() (valid only until the next scratch use, synchronous use only).
 */
export function scratchBytes(n: number): Bytes {
  if (scratchBuffer.length < n) scratchBuffer = new Uint8Array(Math.max(scratchBuffer.length * 2, n));
  return scratchBuffer;
}

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

/**
 * The end offset of the last readVarint (a second return value without an
 * allocation). Read it right after the call.
 */
export let varintEnd = 0;

/**
 * ByteReader.varint on a plain buffer, for the hot decoders: the same
 * canonical LEB128 and the same errors (code, "truncated/non-canonical/… what").
 */
export function readVarint(buf: Bytes, p: number, end: number, what: string, code: CoreErrorCode): number {
  // One byte, the common case for small values.
  if (p < end) {
    const b = buf[p]!;
    if (b < 128) {
      varintEnd = p + 1;
      return b;
    }
  }
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (p >= end) throw new ResumptionError(code, `truncated ${what}`);
    const b = buf[p++]!;
    value += (b & 127) * scale;
    if ((b & 128) === 0) {
      if (b === 0 && i > 0) throw new ResumptionError(code, `non-canonical ${what}`);
      if (value > Number.MAX_SAFE_INTEGER) throw new ResumptionError(code, `${what} out of range`);
      varintEnd = p;
      return value;
    }
    scale *= 128;
  }
  throw new ResumptionError(code, `${what} out of range`);
}

export class ByteWriter {
  private buf: Bytes;
  private pos = 0;

  constructor(capacity = 256, buffer?: Bytes) {
    this.buf = buffer ?? new Uint8Array(capacity);
  }

  /**
   * A writer over one shared buffer: no allocation per encoding. Its result
   * is valid only until the next scratch writer starts, so callers copy it
   * (finishCopy) or hand it to something that copies at once (WebCrypto
   * copies its input before encrypt() returns). Synchronous use only.
   */
  static scratch(): ByteWriter {
    return new ByteWriter(0, scratchBuffer);
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
    if (this.buf === scratchBuffer) scratchBuffer = next;
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

  /** The bytes written, as a copy of their own. */
  finishCopy(): Bytes {
    return this.buf.slice(0, this.pos);
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

  /** The buffer read (for decoders that read it directly, then seek). */
  get buffer(): Bytes {
    return this.buf;
  }

  /** The offset reads stop at. */
  get limit(): number {
    return this.end;
  }

  /** Moves to `pos` (between the current offset and the limit): a direct decoder's bytes are consumed. */
  seek(pos: number): void {
    if (pos < this.pos || pos > this.end) throw new RangeError("ByteReader.seek out of range");
    this.pos = pos;
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

  /** Unsigned LEB128, canonical (no redundant trailing zero groups), at most 2^53 - 1. */
  varint(what: string): number {
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

  /** A varint length (checked against what is left, before allocating) and the bytes. */
  lengthPrefixed(what: string, max = Number.MAX_SAFE_INTEGER): Bytes {
    const n = this.varint(`${what} length`);
    if (n > max) this.fail(`${what} longer than ${max} bytes`);
    return this.bytes(n, what);
  }

  expectEnd(what: string): void {
    if (this.pos !== this.end) this.fail(`${this.end - this.pos} unexpected bytes after ${what}`);
  }
}
