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
