/**
 * The session record: what a TLS session carries (Pike's SSL.Session,
 * OpenSSL's SSL_SESSION), in two shapes: the JSON of the HTTP API (binary
 * fields base64url) and a compact binary codec used inside tickets
 * (docs/ticket-format.md, "Session codec").
 *
 * One table, FIELDS, says everything about each field: its name (the JSON
 * key and the Session member, never a rename), how its JSON is validated and
 * written, the value it takes when left out, and its binary codec (presence
 * bit, size, writer, reader). The parser, sessionToJson, the encoder, its
 * size and the decoder walk that table; the rules between fields are
 * sessionRuleIssues', the one place for them.
 *
 * Adding a field: its member in Session (SessionJson follows), its row in
 * FIELDS (the type checker asks for it, and its bit), and its JSON Schema in
 * src/http/session-schema.ts.
 */
import { ByteReader, ByteWriter, putVarint, varintSize } from "./binary.js";
import { decodeBase64url, encodeBase64url, type Bytes } from "./encoding.js";
import { ResumptionError, type FieldIssue } from "./errors.js";
import { asciiAt, hostNameAt, isHostName, isPrintableAscii, MAX_HOST_NAME } from "./hostname.js";

export const TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** RFC 6066 max_fragment_length values, by their code point 1..4. */
export const MAX_FRAGMENT_LENGTHS = [512, 1024, 2048, 4096] as const;

export const SESSION_LIMITS = {
  /** Longest a session may be cached or a ticket may live: RFC 8446 4.6.1's 7 days. */
  maxTimeout: 604_800,
  /** created_at is unix seconds; 2^33 is the year 2242. */
  maxCreatedAt: 2 ** 33,
  maxServerName: MAX_HOST_NAME,
  maxAlpn: 255,
  /** One DER certificate; TLS itself allows 2^24-1 but tickets stop at 65535 bytes. */
  maxCertificate: 65_535,
  maxCertificates: 16,
  /** A caller's own serialized session (i2d_SSL_SESSION, Node's session data). */
  maxOpaque: 49_152,
} as const;

export interface Session {
  version?: TlsVersion;
  cipher_suite?: number;
  master_secret?: Bytes;
  extended_master_secret: boolean;
  encrypt_then_mac: boolean;
  /** SNI host name, lowercased (DNS names compare case-insensitively). */
  server_name?: string;
  alpn?: string;
  peer_certificate_chain?: Bytes[];
  max_fragment_length?: number;
  ticket_age_add?: number;
  max_early_data?: number;
  /** Unix seconds. */
  created_at: number;
  /** Seconds the session may be resumed for, from created_at. */
  timeout: number;
  opaque?: Bytes;
}

/** A value in the API's JSON: bytes are base64url text without padding. */
type JsonOf<T> = T extends Bytes ? string : T extends readonly Bytes[] ? string[] : T;

/** JSON shape of a session in the API: Session's members, each optional (the parser fills the defaults). */
export type SessionJson = { [K in keyof Session]?: JsonOf<NonNullable<Session[K]>> };

export interface SessionDefaults {
  /** Unix seconds: created_at when the caller gives none. */
  now: number;
  /** Seconds: timeout when the caller gives none (the context's session_timeout). */
  timeout: number;
}

/** What one field is, in both shapes. T: its value in a Session. */
interface Field<T> {
  /** Validates the field's JSON value and converts it; writes a value's JSON. */
  json: JsonCodec<T>;
  /** Gives s the value the field has when left out (of the JSON, or of the binary form: its bit clear): a flag's false. */
  absent?: (s: Session) => void;
  /** The value when the JSON leaves the field out or gets it wrong: the caller's default. */
  fallback?: (defaults: SessionDefaults) => T;
  /** Its part of the binary form (docs/ticket-format.md), or the field whose part carries it. */
  binary: BinaryField | { within: keyof Session };
}

interface JsonCodec<T> {
  /** The value from its JSON (never undefined here), or undefined once what is wrong is in `issues` (under `name`). */
  parse: (json: unknown, name: string, issues: Issues) => T | undefined;
  /** The JSON of a value; none: the value is its own JSON. */
  toJson?: (value: T) => JsonOf<T>;
}

/**
 * A field's part of the binary form. Its functions read and write the
 * Session member by name (one function each per field, so that V8 keeps
 * each access monomorphic: this runs on every ticket sealed and opened).
 */
interface BinaryField {
  /** Its bit in the presence bitmap; none: always present, written right after the bitmap. */
  bit?: number;
  /** Bytes it takes in s's binary form (0 when s lacks it). Throws session_invalid when it cannot be written. */
  size: (s: Session) => number;
  /** Writes it at p of a buffer with room for it; returns the offset after it, or -1 when s lacks it. */
  write: (buf: Bytes, p: number, s: Session) => number;
  /** Reads it into s, checking all the format says of it. copy: byte fields are copies, not views into r's buffer. */
  read: (r: ByteReader, s: Session, copy: boolean) => void;
}

/** A parse's wrong fields, each under the caller's path. */
class Issues {
  readonly list: FieldIssue[] = [];
  constructor(private readonly path: string) {}
  add(field: string, message: string): undefined {
    this.list.push({ field: `${this.path}.${field}`, message });
    return undefined;
  }
}

// JSON codecs.

const isUint = (v: unknown, max: number): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

const uint = (max: number, min = 0): JsonCodec<number> => ({
  parse: (v, name, issues) => (isUint(v, max) && v >= min ? v : issues.add(name, `must be an integer from ${min} to ${max}`)),
});

const oneOf = <T>(values: readonly T[]): JsonCodec<T> => ({
  parse: (v, name, issues) => ((values as readonly unknown[]).includes(v) ? (v as T) : issues.add(name, `must be one of ${values.join(", ")}`)),
});

const BOOLEAN: JsonCodec<boolean> = {
  parse: (v, name, issues) => (typeof v === "boolean" ? v : issues.add(name, "must be a boolean")),
};

const base64urlBytes = (min: number, max: number): JsonCodec<Bytes> => ({
  parse(v, name, issues) {
    if (typeof v !== "string") return issues.add(name, "must be a base64url string");
    const b = decodeBase64url(v);
    if (!b) return issues.add(name, "must be base64url without padding");
    if (b.length < min || b.length > max) return issues.add(name, `must be ${min} to ${max} bytes`);
    return b;
  },
  toJson: encodeBase64url,
});

const HOST_NAME: JsonCodec<string> = {
  parse: (v, name, issues) =>
    typeof v === "string" && isHostName(v) ? v.toLowerCase() : issues.add(name, "must be a DNS host name (no IP address, no trailing dot)"),
};

const printableText = (max: number): JsonCodec<string> => ({
  parse: (v, name, issues) =>
    typeof v === "string" && v.length >= 1 && v.length <= max && isPrintableAscii(v) ? v : issues.add(name, `must be 1 to ${max} printable ASCII characters`),
});

const certificates = (maxCount: number, maxBytes: number): JsonCodec<Bytes[]> => ({
  parse(v, name, issues) {
    if (!Array.isArray(v) || v.length > maxCount) return issues.add(name, `must be an array of at most ${maxCount} certificates`);
    const certs: Bytes[] = [];
    v.forEach((c, i) => {
      const der = typeof c === "string" ? decodeBase64url(c) : undefined;
      if (!der || der.length === 0 || der.length > maxBytes) {
        issues.add(`${name}[${i}]`, `must be a base64url DER certificate of 1 to ${maxBytes} bytes`);
      } else certs.push(der);
    });
    return certs;
  },
  toJson: (chain) => chain.map(encodeBase64url),
});

// Binary pieces. Reads fail with the reader's code (session_invalid) and the messages of the format's checks.

/** Bytes of a length-prefixed value: a varint length, then the bytes. */
const prefixedSize = (n: number) => varintSize(n) + n;

function putBytes(buf: Bytes, p: number, b: Bytes): number {
  // A loop beats TypedArray#set for the short fields of a session.
  const n = b.length;
  if (n > 64) buf.set(b, p);
  else for (let i = 0; i < n; i++) buf[p + i] = b[i]!;
  return p + n;
}

const putPrefixed = (buf: Bytes, p: number, b: Bytes) => putBytes(buf, putVarint(buf, p, b.length), b);

/** 1 to max bytes after a varint length. */
function readPrefixed(r: ByteReader, what: string, max: number, copy: boolean): Bytes {
  const n = r.length(what, max);
  if (n === 0) r.fail(`empty ${what}`);
  return copy ? r.bytes(n, what) : r.view(n, what);
}

/** A varint from min to max. */
function readUint(r: ByteReader, what: string, min: number, max: number): number {
  const v = r.varint(what);
  if (v < min || v > max) r.fail(`${what} out of range`);
  return v;
}

/** One of a list, as one byte: its position from 1. */
function putCode<T>(buf: Bytes, p: number, values: readonly T[], v: T): number {
  buf[p] = values.indexOf(v) + 1;
  return p + 1;
}

function readCode<T>(r: ByteReader, what: string, values: readonly T[], unknown: string): T {
  const v = values[r.u8(what) - 1];
  return v === undefined ? r.fail(unknown) : v;
}

/** Printable ASCII after a varint length; validation keeps server_name and alpn so, and nothing else can be written. */
function asciiSize(text: string): number {
  if (!isPrintableAscii(text)) throw new ResumptionError("session_invalid", "server_name and alpn must be printable ASCII", "session");
  return prefixedSize(text.length);
}

function putAscii(buf: Bytes, p: number, text: string): number {
  p = putVarint(buf, p, text.length);
  for (let i = 0; i < text.length; i++) buf[p++] = text.charCodeAt(i);
  return p;
}

/** Text of at most max bytes after a varint length, read in place by `decode` (undefined: `invalid` says why). */
function readAscii(r: ByteReader, what: string, max: number, decode: (buf: Bytes, p: number, n: number) => string | undefined, invalid: string): string {
  const n = r.length(what, max);
  const text = decode(r.buffer, r.skip(n, what), n);
  return text === undefined ? r.fail(invalid) : text;
}

const nonEmptyAsciiAt = (buf: Bytes, p: number, n: number) => (n > 0 ? asciiAt(buf, p, n) : undefined);

/**
 * The table: per field, its JSON and its binary form. Its order is the
 * JSON's; the binary form is the presence bitmap, then created_at and
 * timeout (no bit), then the others in bit order (docs/ticket-format.md,
 * "Session codec").
 */
const FIELDS: { [K in keyof Session]-?: Field<NonNullable<Session[K]>> } = {
  version: {
    json: oneOf(TLS_VERSIONS),
    binary: {
      // Bit 0 is "version and cipher_suite": the suite travels with the version (0 for a Session made by hand without one).
      bit: 0,
      size: (s) => (s.version === undefined ? 0 : 3),
      write(buf, p, s) {
        if (s.version === undefined) return -1;
        p = putCode(buf, p, TLS_VERSIONS, s.version);
        const cipher = s.cipher_suite ?? 0;
        buf[p] = cipher >>> 8;
        buf[p + 1] = cipher & 255;
        return p + 2;
      },
      read(r, s) {
        s.version = readCode(r, "version", TLS_VERSIONS, "unknown TLS version");
        s.cipher_suite = r.u16("cipher_suite");
      },
    },
  },
  cipher_suite: { json: uint(0xffff), binary: { within: "version" } },
  master_secret: {
    json: base64urlBytes(1, 48),
    binary: {
      bit: 1,
      size: (s) => (s.master_secret ? 1 + s.master_secret.length : 0),
      write(buf, p, s) {
        if (!s.master_secret) return -1;
        buf[p] = s.master_secret.length;
        return putBytes(buf, p + 1, s.master_secret);
      },
      read(r, s, copy) {
        const n = r.u8("master_secret length");
        s.master_secret = copy ? r.bytes(n, "master_secret") : r.view(n, "master_secret");
      },
    },
  },
  extended_master_secret: {
    json: BOOLEAN,
    absent: (s) => void (s.extended_master_secret = false),
    binary: { bit: 2, size: () => 0, write: (_buf, p, s) => (s.extended_master_secret ? p : -1), read: (_r, s) => void (s.extended_master_secret = true) },
  },
  encrypt_then_mac: {
    json: BOOLEAN,
    absent: (s) => void (s.encrypt_then_mac = false),
    binary: { bit: 3, size: () => 0, write: (_buf, p, s) => (s.encrypt_then_mac ? p : -1), read: (_r, s) => void (s.encrypt_then_mac = true) },
  },
  server_name: {
    json: HOST_NAME,
    binary: {
      bit: 4,
      size: (s) => (s.server_name === undefined ? 0 : asciiSize(s.server_name)),
      write: (buf, p, s) => (s.server_name === undefined ? -1 : putAscii(buf, p, s.server_name)),
      read(r, s) {
        s.server_name = readAscii(r, "server_name", SESSION_LIMITS.maxServerName, hostNameAt, "server_name is not a lowercase host name");
      },
    },
  },
  alpn: {
    json: printableText(SESSION_LIMITS.maxAlpn),
    binary: {
      bit: 5,
      size: (s) => (s.alpn === undefined ? 0 : asciiSize(s.alpn)),
      write: (buf, p, s) => (s.alpn === undefined ? -1 : putAscii(buf, p, s.alpn)),
      read(r, s) {
        s.alpn = readAscii(r, "alpn", SESSION_LIMITS.maxAlpn, nonEmptyAsciiAt, "alpn is not printable ASCII");
      },
    },
  },
  peer_certificate_chain: {
    json: certificates(SESSION_LIMITS.maxCertificates, SESSION_LIMITS.maxCertificate),
    binary: {
      // A varint count, then each certificate length-prefixed. May be empty: present with count 0 differs from absent.
      bit: 6,
      size(s) {
        const chain = s.peer_certificate_chain;
        if (!chain) return 0;
        let n = varintSize(chain.length);
        for (const cert of chain) n += prefixedSize(cert.length);
        return n;
      },
      write(buf, p, s) {
        const chain = s.peer_certificate_chain;
        if (!chain) return -1;
        p = putVarint(buf, p, chain.length);
        for (const cert of chain) p = putPrefixed(buf, p, cert);
        return p;
      },
      read(r, s, copy) {
        const count = r.varint("certificate count");
        if (count > SESSION_LIMITS.maxCertificates) r.fail("too many certificates");
        const chain: Bytes[] = [];
        for (let i = 0; i < count; i++) chain.push(readPrefixed(r, "certificate", SESSION_LIMITS.maxCertificate, copy));
        s.peer_certificate_chain = chain;
      },
    },
  },
  max_fragment_length: {
    json: oneOf<number>(MAX_FRAGMENT_LENGTHS),
    binary: {
      bit: 7,
      size: (s) => (s.max_fragment_length === undefined ? 0 : 1),
      write: (buf, p, s) => (s.max_fragment_length === undefined ? -1 : putCode(buf, p, MAX_FRAGMENT_LENGTHS as readonly number[], s.max_fragment_length)),
      read(r, s) {
        s.max_fragment_length = readCode(r, "max_fragment_length", MAX_FRAGMENT_LENGTHS, "unknown max_fragment_length");
      },
    },
  },
  ticket_age_add: {
    json: uint(0xffffffff),
    binary: {
      bit: 8,
      size: (s) => (s.ticket_age_add === undefined ? 0 : 4),
      write(buf, p, s) {
        if (s.ticket_age_add === undefined) return -1;
        const hi = s.ticket_age_add >>> 16;
        const lo = s.ticket_age_add & 0xffff;
        buf[p] = hi >>> 8;
        buf[p + 1] = hi & 255;
        buf[p + 2] = lo >>> 8;
        buf[p + 3] = lo & 255;
        return p + 4;
      },
      read(r, s) {
        s.ticket_age_add = r.u32("ticket_age_add");
      },
    },
  },
  max_early_data: {
    json: uint(0xffffffff),
    binary: {
      bit: 9,
      size: (s) => (s.max_early_data === undefined ? 0 : varintSize(s.max_early_data)),
      write: (buf, p, s) => (s.max_early_data === undefined ? -1 : putVarint(buf, p, s.max_early_data)),
      read(r, s) {
        s.max_early_data = readUint(r, "max_early_data", 0, 0xffffffff);
      },
    },
  },
  created_at: {
    json: uint(SESSION_LIMITS.maxCreatedAt),
    fallback: (d) => d.now,
    binary: {
      size: (s) => varintSize(s.created_at),
      write: (buf, p, s) => putVarint(buf, p, s.created_at),
      read(r, s) {
        s.created_at = readUint(r, "created_at", 0, SESSION_LIMITS.maxCreatedAt);
      },
    },
  },
  timeout: {
    json: uint(SESSION_LIMITS.maxTimeout, 1),
    fallback: (d) => d.timeout,
    binary: {
      size: (s) => varintSize(s.timeout),
      write: (buf, p, s) => putVarint(buf, p, s.timeout),
      read(r, s) {
        s.timeout = readUint(r, "timeout", 1, SESSION_LIMITS.maxTimeout);
      },
    },
  },
  opaque: {
    json: base64urlBytes(1, SESSION_LIMITS.maxOpaque),
    binary: {
      bit: 10,
      size: (s) => (s.opaque ? prefixedSize(s.opaque.length) : 0),
      write: (buf, p, s) => (s.opaque ? putPrefixed(buf, p, s.opaque) : -1),
      read(r, s, copy) {
        s.opaque = readPrefixed(r, "opaque", SESSION_LIMITS.maxOpaque, copy);
      },
    },
  },
};

/** The table's rows for the JSON walkers, every row the same shape. */
interface JsonRow {
  name: keyof Session;
  parse: JsonCodec<unknown>["parse"];
  toJson: ((value: unknown) => unknown) | undefined;
  fallback: ((defaults: SessionDefaults) => unknown) | undefined;
  absent: ((s: Session) => void) | undefined;
}

/** The binary parts, for the codec's walkers: the bit as a mask (0: always present). */
interface BinaryRow extends BinaryField {
  mask: number;
  absent: ((s: Session) => void) | undefined;
}

const NAMES = Object.keys(FIELDS) as (keyof Session)[];
const JSON_ROWS: readonly JsonRow[] = NAMES.map((name) => {
  const f = FIELDS[name] as Field<unknown>;
  return { name, parse: f.json.parse, toJson: f.json.toJson, fallback: f.fallback, absent: f.absent };
});
const FIELD_NAMES = new Set<string>(NAMES);

/** Binary order: those always present (in table order), then by bit. */
const BINARY_ROWS: readonly BinaryRow[] = NAMES.flatMap((name): BinaryRow[] => {
  const { binary: b, absent } = FIELDS[name] as Field<unknown>;
  return "within" in b ? [] : [{ bit: b.bit, size: b.size, write: b.write, read: b.read, mask: b.bit === undefined ? 0 : 1 << b.bit, absent }];
}).sort((a, b) => (a.bit ?? -1) - (b.bit ?? -1));
const KNOWN_BITS = BINARY_ROWS.reduce((bits, b) => bits | b.mask, 0);

/**
 * Validates the API's JSON session. Every wrong field gets its own message;
 * all are reported together as one session_invalid error.
 * `extraFields` lists fields the caller handles itself (e.g. session_id).
 */
export function parseSession(input: unknown, defaults: SessionDefaults, path = "session", extraFields: readonly string[] = []): Session {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw ResumptionError.fromIssues("session_invalid", [{ field: path, message: "must be an object" }]);
  }
  const json = input as Record<string, unknown>;
  const issues = new Issues(path);
  for (const key of Object.keys(json)) {
    if (!FIELD_NAMES.has(key) && !extraFields.includes(key)) issues.add(key, "unknown field");
  }
  const session: Record<string, unknown> = {};
  for (const f of JSON_ROWS) {
    const v = json[f.name];
    const value = (v === undefined ? undefined : f.parse(v, f.name, issues)) ?? f.fallback?.(defaults);
    if (value !== undefined) session[f.name] = value;
    else f.absent?.(session as unknown as Session);
  }
  // Rules between fields apply only once each field is well-formed on its own,
  // so that a field is never reported twice.
  if (issues.list.length > 0) throw ResumptionError.fromIssues("session_invalid", issues.list);
  return checkRules(session as unknown as Session, path);
}

/** The API's JSON for a session. */
export function sessionToJson(s: Session): SessionJson {
  const out: Record<string, unknown> = {};
  for (const f of JSON_ROWS) {
    const v = s[f.name];
    if (v !== undefined) out[f.name] = f.toJson ? f.toJson(v) : v;
  }
  return out as SessionJson;
}

/** s, when the rules that tie its fields together hold; else a session_invalid error naming each field at most once. */
function checkRules(s: Session, path: string): Session {
  const issues = sessionRuleIssues(s, path);
  if (issues) throw ResumptionError.fromIssues("session_invalid", issues);
  return s;
}

/**
 * The rules that tie fields together (docs/ticket-format.md), for the JSON
 * parser and the binary decoder alike; undefined when they hold. Allocates
 * only when something is wrong: this runs on every ticket opened.
 */
function sessionRuleIssues(s: Session, path: string): FieldIssue[] | undefined {
  let issues: FieldIssue[] | undefined;
  const ms = s.master_secret;
  if (!ms && !s.opaque) issues = withIssue(issues, path, "master_secret", "a session needs master_secret or opaque");
  if (ms) {
    if (s.version === undefined) issues = withIssue(issues, path, "version", "is required with master_secret");
    if (s.cipher_suite === undefined) issues = withIssue(issues, path, "cipher_suite", "is required with master_secret");
    const n = ms.length;
    if (s.version === "TLSv1.3" ? n !== 32 && n !== 48 : n !== 48) {
      const message = s.version === "TLSv1.3" ? "must be 32 or 48 bytes for TLSv1.3" : "must be exactly 48 bytes up to TLSv1.2";
      issues = withIssue(issues, path, "master_secret", message);
    }
  }
  if (s.version === "TLSv1.3") {
    if (s.extended_master_secret) issues = withIssue(issues, path, "extended_master_secret", "applies only up to TLSv1.2");
    if (s.encrypt_then_mac) issues = withIssue(issues, path, "encrypt_then_mac", "applies only up to TLSv1.2");
  } else if (s.version !== undefined) {
    if (s.ticket_age_add !== undefined) issues = withIssue(issues, path, "ticket_age_add", "applies only to TLSv1.3");
    if (s.max_early_data !== undefined) issues = withIssue(issues, path, "max_early_data", "applies only to TLSv1.3");
  }
  // With master_secret each missing one is already reported above; never name a field twice.
  if (!ms && (s.version === undefined) !== (s.cipher_suite === undefined)) {
    issues = withIssue(issues, path, s.version === undefined ? "version" : "cipher_suite", "version and cipher_suite go together");
  }
  return issues;
}

function withIssue(issues: FieldIssue[] | undefined, path: string, field: string, message: string): FieldIssue[] {
  (issues ??= []).push({ field: `${path}.${field}`, message });
  return issues;
}

/**
 * The exact length of writeSessionAt's output for s. Refuses (session_invalid)
 * a session with a field that cannot be written: a server_name or alpn that
 * is not printable ASCII, which validation rules out.
 */
export function sessionSize(s: Session): number {
  let n = 2;
  for (const b of BINARY_ROWS) n += b.size(s);
  return n;
}

/**
 * Writes the compact binary form of s at offset p of buf, which must hold
 * sessionSize(s) more bytes (sessionSize having accepted s). Returns the
 * offset after it.
 */
export function writeSessionAt(buf: Bytes, p: number, s: Session): number {
  const at = p;
  p += 2;
  let bits = 0;
  for (const b of BINARY_ROWS) {
    const next = b.write(buf, p, s);
    if (next < 0) continue;
    bits |= b.mask;
    p = next;
  }
  buf[at] = bits >>> 8;
  buf[at + 1] = bits & 255;
  return p;
}

/** Appends the compact binary form of a (valid) session. */
export function writeSession(w: ByteWriter, s: Session): void {
  const at = w.reserve(sessionSize(s)); // first: it may grow the buffer
  writeSessionAt(w.buffer, at, s);
}

/** The compact binary form of a (valid) session, in a buffer of its own. */
export function encodeSession(s: Session): Bytes {
  const out = new Uint8Array(sessionSize(s));
  writeSessionAt(out, 0, s);
  return out;
}

/**
 * Reads a session at r's offset and checks it by the same rules as the JSON
 * parser, so a session that comes out of a ticket or the store is always a
 * valid one. Every failure is a session_invalid ResumptionError, whatever
 * r's own code (and leaves r anywhere in the session). copy: the byte fields
 * are copies (false: views into r's buffer, for a caller that owns it and
 * never changes it, e.g. a fresh decryption).
 */
export function readSession(r: ByteReader, copy = true): Session {
  try {
    return readFields(r, copy);
  } catch (e) {
    throw e instanceof ResumptionError && e.code !== "session_invalid" ? new ResumptionError("session_invalid", e.message) : e;
  }
}

export function decodeSession(bytes: Bytes): Session {
  const r = new ByteReader(bytes, "session_invalid");
  const s = readFields(r, true);
  r.expectEnd("session");
  return s;
}

/** The decoder: every check of the format in the order the fields are read (failing with r's code), then the rules (session_invalid). */
function readFields(r: ByteReader, copy: boolean): Session {
  const bits = r.u16("session flags");
  if ((bits & ~KNOWN_BITS) !== 0) r.fail("unknown session flags");
  const s = {} as Session;
  for (const b of BINARY_ROWS) {
    if (b.mask === 0 || (bits & b.mask) !== 0) b.read(r, s, copy);
    else if (b.absent) b.absent(s);
  }
  return checkRules(s, "session");
}
