/**
 * The session record: what a TLS session carries (Pike's SSL.Session,
 * OpenSSL's SSL_SESSION), in two shapes: the JSON of the HTTP API (binary
 * fields base64url) and a compact binary codec used inside tickets.
 *
 * Field names are the API's own (snake_case) in both shapes, so the mapping is
 * only "base64url <-> bytes", never a rename.
 */
import { ByteReader, ByteWriter, putVarint, readVarint, varintEnd, varintSize } from "./binary.js";
import { decodeBase64url, encodeBase64url, type Bytes } from "./encoding.js";
import { ResumptionError, type FieldIssue } from "./errors.js";

export const TLS_VERSIONS = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** RFC 6066 max_fragment_length values, by their code point 1..4. */
export const MAX_FRAGMENT_LENGTHS = [512, 1024, 2048, 4096] as const;

export const SESSION_LIMITS = {
  /** Longest a session may be cached or a ticket may live: RFC 8446 4.6.1's 7 days. */
  maxTimeout: 604_800,
  /** created_at is unix seconds; 2^33 is the year 2242. */
  maxCreatedAt: 2 ** 33,
  maxServerName: 253,
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

/** JSON shape of a session in the API. */
export interface SessionJson {
  version?: TlsVersion;
  cipher_suite?: number;
  master_secret?: string;
  extended_master_secret?: boolean;
  encrypt_then_mac?: boolean;
  server_name?: string;
  alpn?: string;
  peer_certificate_chain?: string[];
  max_fragment_length?: number;
  ticket_age_add?: number;
  max_early_data?: number;
  created_at?: number;
  timeout?: number;
  opaque?: string;
}

export interface SessionDefaults {
  /** Unix seconds: created_at when the caller gives none. */
  now: number;
  /** Seconds: timeout when the caller gives none (the context's session_timeout). */
  timeout: number;
}

const JSON_FIELDS = new Set<string>([
  "version", "cipher_suite", "master_secret", "extended_master_secret", "encrypt_then_mac",
  "server_name", "alpn", "peer_certificate_chain", "max_fragment_length", "ticket_age_add",
  "max_early_data", "created_at", "timeout", "opaque",
]);

const PRINTABLE_ASCII = /^[\x21-\x7e]+$/;

/**
 * A lowercase DNS host name: dot-separated LDH labels of 1 to 63 characters,
 * no hyphen at either end of a label, 253 characters at most, and not digits
 * and dots only (an IPv4 literal, which SNI never carries). One pass, no
 * regex: it runs on every ticket opened.
 */
export function isLowerHostName(name: string): boolean {
  const n = name.length;
  if (n === 0 || n > SESSION_LIMITS.maxServerName) return false;
  let label = 0;
  let letters = false;
  let prev = 0x2e; // as if after a dot
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0 || prev === 0x2d) return false;
      label = 0;
    } else {
      const digit = c >= 0x30 && c <= 0x39;
      const letter = c >= 0x61 && c <= 0x7a;
      if (!digit && !letter && c !== 0x2d) return false;
      if (c === 0x2d && label === 0) return false;
      if (++label > 63) return false;
      if (!digit) letters = true;
    }
    prev = c;
  }
  return label > 0 && prev !== 0x2d && letters;
}

/** True for a DNS host name as SNI carries it (RFC 6066 3: no IP literal, no trailing dot), in any case. */
export function isHostName(name: string): boolean {
  // ASCII before lowercasing: toLowerCase maps some non-ASCII letters (U+212A KELVIN SIGN) to ASCII ones.
  return PRINTABLE_ASCII.test(name) && isLowerHostName(name.toLowerCase());
}

const isUint = (v: unknown, max: number): v is number =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;

/**
 * Validates the API's JSON session. Every wrong field gets its own message;
 * all are reported together as one session_invalid error.
 * `extraFields` lists fields the caller handles itself (e.g. session_id).
 */
export function parseSession(
  input: unknown,
  defaults: SessionDefaults,
  path = "session",
  extraFields: readonly string[] = [],
): Session {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw ResumptionError.fromIssues("session_invalid", [{ field: path, message: "must be an object" }]);
  }
  const json = input as Record<string, unknown>;
  const issues: FieldIssue[] = [];
  const bad = (field: string, message: string): undefined => {
    issues.push({ field: `${path}.${field}`, message });
    return undefined;
  };
  for (const key of Object.keys(json)) {
    if (!JSON_FIELDS.has(key) && !extraFields.includes(key)) bad(key, "unknown field");
  }
  const bytesField = (field: string, min: number, max: number): Bytes | undefined => {
    const v = json[field];
    if (v === undefined) return undefined;
    if (typeof v !== "string") return bad(field, "must be a base64url string");
    const b = decodeBase64url(v);
    if (!b) return bad(field, "must be base64url without padding");
    if (b.length < min || b.length > max) return bad(field, `must be ${min} to ${max} bytes`);
    return b;
  };
  const boolField = (field: string): boolean => {
    const v = json[field];
    if (v === undefined) return false;
    if (typeof v !== "boolean") bad(field, "must be a boolean");
    return v === true;
  };
  const uintField = (field: string, max: number): number | undefined => {
    const v = json[field];
    if (v === undefined) return undefined;
    if (!isUint(v, max)) return bad(field, `must be an integer from 0 to ${max}`);
    return v;
  };

  const session: Session = {
    extended_master_secret: boolField("extended_master_secret"),
    encrypt_then_mac: boolField("encrypt_then_mac"),
    created_at: uintField("created_at", SESSION_LIMITS.maxCreatedAt) ?? defaults.now,
    timeout: defaults.timeout,
  };

  if (json.version !== undefined) {
    if (typeof json.version === "string" && (TLS_VERSIONS as readonly string[]).includes(json.version)) {
      session.version = json.version as TlsVersion;
    } else bad("version", `must be one of ${TLS_VERSIONS.join(", ")}`);
  }
  const cipher = uintField("cipher_suite", 0xffff);
  if (cipher !== undefined) session.cipher_suite = cipher;
  const ms = bytesField("master_secret", 1, 48);
  if (ms) session.master_secret = ms;

  if (json.server_name !== undefined) {
    if (typeof json.server_name === "string" && isHostName(json.server_name)) {
      session.server_name = json.server_name.toLowerCase();
    } else bad("server_name", "must be a DNS host name (no IP address, no trailing dot)");
  }
  if (json.alpn !== undefined) {
    const a = json.alpn;
    if (typeof a === "string" && a.length >= 1 && a.length <= SESSION_LIMITS.maxAlpn && /^[\x21-\x7e]+$/.test(a)) {
      session.alpn = a;
    } else bad("alpn", `must be 1 to ${SESSION_LIMITS.maxAlpn} printable ASCII characters`);
  }
  if (json.peer_certificate_chain !== undefined) {
    const chain = json.peer_certificate_chain;
    if (!Array.isArray(chain) || chain.length > SESSION_LIMITS.maxCertificates) {
      bad("peer_certificate_chain", `must be an array of at most ${SESSION_LIMITS.maxCertificates} certificates`);
    } else {
      const certs: Bytes[] = [];
      chain.forEach((c, i) => {
        const der = typeof c === "string" ? decodeBase64url(c) : undefined;
        if (!der || der.length === 0 || der.length > SESSION_LIMITS.maxCertificate) {
          bad(`peer_certificate_chain[${i}]`, `must be a base64url DER certificate of 1 to ${SESSION_LIMITS.maxCertificate} bytes`);
        } else certs.push(der);
      });
      session.peer_certificate_chain = certs;
    }
  }
  if (json.max_fragment_length !== undefined) {
    const v = json.max_fragment_length;
    if (typeof v === "number" && (MAX_FRAGMENT_LENGTHS as readonly number[]).includes(v)) session.max_fragment_length = v;
    else bad("max_fragment_length", `must be one of ${MAX_FRAGMENT_LENGTHS.join(", ")}`);
  }
  const ageAdd = uintField("ticket_age_add", 0xffffffff);
  if (ageAdd !== undefined) session.ticket_age_add = ageAdd;
  const early = uintField("max_early_data", 0xffffffff);
  if (early !== undefined) session.max_early_data = early;
  if (json.timeout !== undefined) {
    const t = json.timeout;
    if (isUint(t, SESSION_LIMITS.maxTimeout) && t >= 1) session.timeout = t;
    else bad("timeout", `must be an integer from 1 to ${SESSION_LIMITS.maxTimeout}`);
  }
  const opaque = bytesField("opaque", 1, SESSION_LIMITS.maxOpaque);
  if (opaque) session.opaque = opaque;

  // Rules between fields apply only once each field is well-formed on its own,
  // so that a field is never reported twice.
  if (issues.length === 0) issues.push(...checkSessionRules(session, path));
  if (issues.length > 0) throw ResumptionError.fromIssues("session_invalid", issues);
  return session;
}

/** The rules that tie fields together; shared by the JSON parser and the binary decoder. */
function checkSessionRules(s: Session, path: string): FieldIssue[] {
  // Allocated only when something is wrong: this runs on every ticket opened.
  let issues: FieldIssue[] | undefined;
  const bad = (field: string, message: string) => (issues ??= []).push({ field: `${path}.${field}`, message });
  if (!s.master_secret && !s.opaque) bad("master_secret", "a session needs master_secret or opaque");
  if (s.master_secret) {
    if (s.version === undefined) bad("version", "is required with master_secret");
    if (s.cipher_suite === undefined) bad("cipher_suite", "is required with master_secret");
    const n = s.master_secret.length;
    if (s.version === "TLSv1.3" ? n !== 32 && n !== 48 : n !== 48) {
      bad("master_secret", s.version === "TLSv1.3" ? "must be 32 or 48 bytes for TLSv1.3" : "must be exactly 48 bytes up to TLSv1.2");
    }
  }
  if (s.version === "TLSv1.3") {
    if (s.extended_master_secret) bad("extended_master_secret", "applies only up to TLSv1.2");
    if (s.encrypt_then_mac) bad("encrypt_then_mac", "applies only up to TLSv1.2");
  } else if (s.version !== undefined) {
    if (s.ticket_age_add !== undefined) bad("ticket_age_add", "applies only to TLSv1.3");
    if (s.max_early_data !== undefined) bad("max_early_data", "applies only to TLSv1.3");
  }
  // With master_secret each missing one is already reported above; never name a field twice.
  if (!s.master_secret && (s.version === undefined) !== (s.cipher_suite === undefined)) {
    bad(s.version === undefined ? "version" : "cipher_suite", "version and cipher_suite go together");
  }
  return issues ?? NO_ISSUES;
}

const NO_ISSUES: FieldIssue[] = [];

/** The API's JSON for a session. */
export function sessionToJson(s: Session): SessionJson {
  const out: SessionJson = {};
  if (s.version !== undefined) out.version = s.version;
  if (s.cipher_suite !== undefined) out.cipher_suite = s.cipher_suite;
  if (s.master_secret) out.master_secret = encodeBase64url(s.master_secret);
  out.extended_master_secret = s.extended_master_secret;
  out.encrypt_then_mac = s.encrypt_then_mac;
  if (s.server_name !== undefined) out.server_name = s.server_name;
  if (s.alpn !== undefined) out.alpn = s.alpn;
  if (s.peer_certificate_chain) out.peer_certificate_chain = s.peer_certificate_chain.map(encodeBase64url);
  if (s.max_fragment_length !== undefined) out.max_fragment_length = s.max_fragment_length;
  if (s.ticket_age_add !== undefined) out.ticket_age_add = s.ticket_age_add;
  if (s.max_early_data !== undefined) out.max_early_data = s.max_early_data;
  out.created_at = s.created_at;
  out.timeout = s.timeout;
  if (s.opaque) out.opaque = encodeBase64url(s.opaque);
  return out;
}

// Binary codec. Layout (docs/ticket-format.md): a 16-bit presence bitmap, then
// created_at and timeout as varints, then each present field in bit order.
const BIT = {
  versionAndCipher: 1 << 0,
  masterSecret: 1 << 1,
  extendedMasterSecret: 1 << 2,
  encryptThenMac: 1 << 3,
  serverName: 1 << 4,
  alpn: 1 << 5,
  peerCertificateChain: 1 << 6,
  maxFragmentLength: 1 << 7,
  ticketAgeAdd: 1 << 8,
  maxEarlyData: 1 << 9,
  opaque: 1 << 10,
} as const;
const KNOWN_BITS = (1 << 11) - 1;

/** Bytes of a value written with ByteWriter.lengthPrefixed. */
const prefixedSize = (n: number) => varintSize(n) + n;

/**
 * The exact length of writeSession's output for s, or -1 when a server_name
 * or alpn is not printable ASCII (validation guarantees it is; writeSession
 * then refuses the session).
 */
export function sessionSize(s: Session): number {
  let n = 2 + varintSize(s.created_at) + varintSize(s.timeout);
  if (s.version !== undefined) n += 3;
  if (s.master_secret) n += 1 + s.master_secret.length;
  if (s.server_name !== undefined) {
    if (!isPrintableAscii(s.server_name)) return -1;
    n += prefixedSize(s.server_name.length);
  }
  if (s.alpn !== undefined) {
    if (!isPrintableAscii(s.alpn)) return -1;
    n += prefixedSize(s.alpn.length);
  }
  if (s.peer_certificate_chain) {
    n += varintSize(s.peer_certificate_chain.length);
    for (const cert of s.peer_certificate_chain) n += prefixedSize(cert.length);
  }
  if (s.max_fragment_length !== undefined) n += 1;
  if (s.ticket_age_add !== undefined) n += 4;
  if (s.max_early_data !== undefined) n += varintSize(s.max_early_data);
  if (s.opaque) n += prefixedSize(s.opaque.length);
  return n;
}

function isPrintableAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

function putAscii(buf: Bytes, p: number, text: string): number {
  p = putVarint(buf, p, text.length);
  for (let i = 0; i < text.length; i++) buf[p++] = text.charCodeAt(i);
  return p;
}

function putBytes(buf: Bytes, p: number, b: Bytes): number {
  // A loop beats TypedArray#set for the short fields of a session.
  const n = b.length;
  if (n > 64) buf.set(b, p);
  else for (let i = 0; i < n; i++) buf[p + i] = b[i]!;
  return p + n;
}

/**
 * Writes the compact binary form of s at offset p of buf, which must hold
 * sessionSize(s) more bytes (and s must have had sessionSize(s) >= 0).
 * Returns the offset after it. The same bytes as ByteWriter-based writing, field by field.
 */
export function writeSessionAt(buf: Bytes, p: number, s: Session): number {
  let bits = 0;
  if (s.version !== undefined) bits |= BIT.versionAndCipher;
  if (s.master_secret) bits |= BIT.masterSecret;
  if (s.extended_master_secret) bits |= BIT.extendedMasterSecret;
  if (s.encrypt_then_mac) bits |= BIT.encryptThenMac;
  if (s.server_name !== undefined) bits |= BIT.serverName;
  if (s.alpn !== undefined) bits |= BIT.alpn;
  if (s.peer_certificate_chain) bits |= BIT.peerCertificateChain;
  if (s.max_fragment_length !== undefined) bits |= BIT.maxFragmentLength;
  if (s.ticket_age_add !== undefined) bits |= BIT.ticketAgeAdd;
  if (s.max_early_data !== undefined) bits |= BIT.maxEarlyData;
  if (s.opaque) bits |= BIT.opaque;
  buf[p++] = bits >>> 8;
  buf[p++] = bits & 255;
  p = putVarint(buf, p, s.created_at);
  p = putVarint(buf, p, s.timeout);
  if (s.version !== undefined) {
    buf[p++] = TLS_VERSIONS.indexOf(s.version) + 1;
    const cipher = s.cipher_suite ?? 0;
    buf[p++] = cipher >>> 8;
    buf[p++] = cipher & 255;
  }
  if (s.master_secret) {
    buf[p++] = s.master_secret.length;
    p = putBytes(buf, p, s.master_secret);
  }
  // Both are printable ASCII by validation (sessionSize checked it).
  if (s.server_name !== undefined) p = putAscii(buf, p, s.server_name);
  if (s.alpn !== undefined) p = putAscii(buf, p, s.alpn);
  if (s.peer_certificate_chain) {
    p = putVarint(buf, p, s.peer_certificate_chain.length);
    for (const cert of s.peer_certificate_chain) p = putBytes(buf, putVarint(buf, p, cert.length), cert);
  }
  if (s.max_fragment_length !== undefined) buf[p++] = (MAX_FRAGMENT_LENGTHS as readonly number[]).indexOf(s.max_fragment_length) + 1;
  if (s.ticket_age_add !== undefined) {
    const hi = s.ticket_age_add >>> 16;
    const lo = s.ticket_age_add & 0xffff;
    buf[p++] = hi >>> 8;
    buf[p++] = hi & 255;
    buf[p++] = lo >>> 8;
    buf[p++] = lo & 255;
  }
  if (s.max_early_data !== undefined) p = putVarint(buf, p, s.max_early_data);
  if (s.opaque) p = putBytes(buf, putVarint(buf, p, s.opaque.length), s.opaque);
  return p;
}

/** Appends the compact binary form of a (valid) session. */
export function writeSession(w: ByteWriter, s: Session): void {
  const n = sessionSize(s);
  if (n < 0) throw new ResumptionError("session_invalid", "server_name and alpn must be printable ASCII", "session");
  const at = w.reserve(n); // first: it may grow the buffer
  writeSessionAt(w.buffer, at, s);
}

export function encodeSession(s: Session): Bytes {
  const w = ByteWriter.scratch();
  writeSession(w, s);
  return w.finishCopy();
}

/**
 * Reads a session and checks it by the same rules as the JSON parser, so a
 * session that comes out of a ticket or the store is always a valid one.
 * Every failure is a session_invalid ResumptionError.
 */
export function readSession(r: ByteReader): Session {
  const s = readSessionAt(r.buffer, r.offset, r.limit, true);
  r.seek(lastSessionEnd);
  return s;
}

/** The end offset of the last readSessionAt (a second return value without an allocation). */
let lastSessionEnd = 0;
export const sessionEnd = (): number => lastSessionEnd;

function bad(message: string): never {
  throw new ResumptionError("session_invalid", message);
}

/**
 * readSession on a plain buffer from `p` (reading stops at `end`); sets
 * sessionEnd. `copy`: the byte fields are copies (false: views into buf, for
 * a caller that owns buf and never changes it, e.g. a fresh decryption).
 * Every check of the format is made here, in the order the fields are read;
 * the rules between fields are checkSessionRules'.
 */
export function readSessionAt(buf: Bytes, p: number, end: number, copy: boolean): Session {
  if (end - p < 2) bad("truncated session flags");
  const bits = (buf[p]! << 8) | buf[p + 1]!;
  p += 2;
  if ((bits & ~KNOWN_BITS) !== 0) bad("unknown session flags");
  const createdAt = readVarint(buf, p, end, "created_at", "session_invalid");
  p = varintEnd;
  const timeout = readVarint(buf, p, end, "timeout", "session_invalid");
  p = varintEnd;
  const s: Session = {
    extended_master_secret: (bits & BIT.extendedMasterSecret) !== 0,
    encrypt_then_mac: (bits & BIT.encryptThenMac) !== 0,
    created_at: createdAt,
    timeout,
  };
  if (createdAt > SESSION_LIMITS.maxCreatedAt) bad("created_at out of range");
  if (timeout < 1 || timeout > SESSION_LIMITS.maxTimeout) bad("timeout out of range");
  if (bits & BIT.versionAndCipher) {
    if (p >= end) bad("truncated version");
    const v = TLS_VERSIONS[buf[p++]! - 1];
    if (v === undefined) bad("unknown TLS version");
    s.version = v;
    if (end - p < 2) bad("truncated cipher_suite");
    s.cipher_suite = (buf[p]! << 8) | buf[p + 1]!;
    p += 2;
  }
  if (bits & BIT.masterSecret) {
    if (p >= end) bad("truncated master_secret length");
    const n = buf[p++]!;
    if (n > end - p) bad("truncated master_secret");
    s.master_secret = copy ? buf.slice(p, p + n) : buf.subarray(p, p + n);
    p += n;
  }
  if (bits & BIT.serverName) {
    const n = readVarint(buf, p, end, "server_name length", "session_invalid");
    p = varintEnd;
    if (n > SESSION_LIMITS.maxServerName) bad(`server_name longer than ${SESSION_LIMITS.maxServerName} bytes`);
    if (n > end - p) bad("truncated server_name");
    const name = hostNameAt(buf, p, n);
    if (name === undefined) bad("server_name is not a lowercase host name");
    s.server_name = name;
    p += n;
  }
  if (bits & BIT.alpn) {
    const n = readVarint(buf, p, end, "alpn length", "session_invalid");
    p = varintEnd;
    if (n > SESSION_LIMITS.maxAlpn) bad(`alpn longer than ${SESSION_LIMITS.maxAlpn} bytes`);
    if (n > end - p) bad("truncated alpn");
    const alpn = asciiAt(buf, p, n);
    if (alpn === undefined || alpn.length === 0) bad("alpn is not printable ASCII");
    s.alpn = alpn;
    p += n;
  }
  if (bits & BIT.peerCertificateChain) {
    const count = readVarint(buf, p, end, "certificate count", "session_invalid");
    p = varintEnd;
    if (count > SESSION_LIMITS.maxCertificates) bad("too many certificates");
    const chain: Bytes[] = [];
    for (let i = 0; i < count; i++) {
      const n = readVarint(buf, p, end, "certificate length", "session_invalid");
      p = varintEnd;
      if (n > SESSION_LIMITS.maxCertificate) bad(`certificate longer than ${SESSION_LIMITS.maxCertificate} bytes`);
      if (n > end - p) bad("truncated certificate");
      if (n === 0) bad("empty certificate");
      chain.push(copy ? buf.slice(p, p + n) : buf.subarray(p, p + n));
      p += n;
    }
    s.peer_certificate_chain = chain;
  }
  if (bits & BIT.maxFragmentLength) {
    if (p >= end) bad("truncated max_fragment_length");
    const mfl = MAX_FRAGMENT_LENGTHS[buf[p++]! - 1];
    if (mfl === undefined) bad("unknown max_fragment_length");
    s.max_fragment_length = mfl;
  }
  if (bits & BIT.ticketAgeAdd) {
    if (end - p < 4) bad("truncated ticket_age_add");
    s.ticket_age_add = ((buf[p]! << 8) | buf[p + 1]!) * 65536 + ((buf[p + 2]! << 8) | buf[p + 3]!);
    p += 4;
  }
  if (bits & BIT.maxEarlyData) {
    const early = readVarint(buf, p, end, "max_early_data", "session_invalid");
    p = varintEnd;
    if (early > 0xffffffff) bad("max_early_data out of range");
    s.max_early_data = early;
  }
  if (bits & BIT.opaque) {
    const n = readVarint(buf, p, end, "opaque length", "session_invalid");
    p = varintEnd;
    if (n > SESSION_LIMITS.maxOpaque) bad(`opaque longer than ${SESSION_LIMITS.maxOpaque} bytes`);
    if (n > end - p) bad("truncated opaque");
    if (n === 0) bad("empty opaque");
    s.opaque = copy ? buf.slice(p, p + n) : buf.subarray(p, p + n);
    p += n;
  }
  if (!sessionRulesHold(s)) throw ResumptionError.fromIssues("session_invalid", checkSessionRules(s, "session"));
  lastSessionEnd = p;
  return s;
}

/** checkSessionRules(s).length === 0, without building the issues (the decoders' common case). */
function sessionRulesHold(s: Session): boolean {
  const ms = s.master_secret;
  if (ms) {
    if (s.version === undefined || s.cipher_suite === undefined) return false;
    const n = ms.length;
    if (s.version === "TLSv1.3" ? n !== 32 && n !== 48 : n !== 48) return false;
  } else {
    if (!s.opaque) return false;
    if ((s.version === undefined) !== (s.cipher_suite === undefined)) return false;
  }
  if (s.version === "TLSv1.3") return !s.extended_master_secret && !s.encrypt_then_mac;
  if (s.version !== undefined) return s.ticket_age_add === undefined && s.max_early_data === undefined;
  return true;
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
function hostNameAt(buf: Bytes, p: number, n: number): string | undefined {
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

/** The n bytes at p as text when all are printable ASCII (asciiText without a copy). */
function asciiAt(buf: Bytes, p: number, n: number): string | undefined {
  for (let i = p; i < p + n; i++) if (buf[i]! < 0x21 || buf[i]! > 0x7e) return undefined;
  // Callers bound n (253 or 255): small enough for one fromCharCode call.
  return String.fromCharCode.apply(null, buf.subarray(p, p + n) as unknown as number[]);
}

export function decodeSession(bytes: Bytes): Session {
  const r = new ByteReader(bytes, "session_invalid");
  const s = readSession(r);
  r.expectEnd("session");
  return s;
}
