/**
 * Fuzz targets for the core's codecs and the JWE ticket format. Each target turns a seeded PRNG into
 * one hostile input, runs the codec on it, and classifies the outcome: a
 * typed ResumptionError or a correct result is fine; any other exception is
 * a finding. Web APIs only, so the same targets run in Node and workerd.
 */
import {
  decodeBase64url,
  decodeHex,
  encodeBase64url,
  decodeSession,
  encodeSession,
  isResumptionError,
  openTicket,
  parseSession,
  sealTicket,
  sessionToJson,
  TicketKeyCache,
  type Bytes,
  type Session,
} from "../src/core/index.js";
import type { ContextSettings } from "../src/config.js";
import { ServiceError } from "../src/errors.js";
import { statusOf } from "../src/http/errors.js";
import { ExternalCache } from "../src/store/external.js";
import { MemoryStorage } from "../src/store/storage.js";
import { TicketCopies } from "../src/store/ticket-copies.js";
import { openJweTicket, sealJweTicket } from "../src/tickets/jwe.js";
import { openPresentedTicket, type OpenServices } from "../src/tickets/open.js";
import { sealPresentedSession, type SealServices } from "../src/tickets/seal.js";

/** sfc32 (Chris Doty-Humphrey's small fast counter): seedable, reproducible, good statistics; not for secrets. */
export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;
  constructor(seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }
  int(n: number): number {
    return Math.floor((this.next() / 2 ** 32) * n);
  }
  bytes(n: number): Bytes {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.next() & 255;
    return b;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
}

export type Outcome = "ok" | "typed_error";

export interface Finding {
  target: string;
  input: string;
  error: string;
}

const CONTEXT = "fuzz";
const KEY_ID = 0x00abcd;

export interface FuzzFixture {
  keys: TicketKeyCache;
  /** store: true tickets (binary and JWE, one single use) whose key was revoked, with their copies stored. */
  store: StoreFixture;
  /** Valid tickets of several shapes, the seeds of mutation. */
  tickets: Bytes[];
  /** Valid encoded sessions. */
  sessions: Bytes[];
  /** The same sessions as compact JWE tickets. */
  jwes: string[];
}

const BASE_SESSIONS: Session[] = [
  { version: "TLSv1.2", cipher_suite: 49195, master_secret: new Uint8Array(48).fill(1), extended_master_secret: true, encrypt_then_mac: false, server_name: "resume.example-a.com", created_at: 1_800_000_000, timeout: 7200 },
  { version: "TLSv1.3", cipher_suite: 4865, master_secret: new Uint8Array(32).fill(2), extended_master_secret: false, encrypt_then_mac: false, alpn: "h2", ticket_age_add: 0xdeadbeef, max_early_data: 16384, created_at: 1_800_000_000, timeout: 600, max_fragment_length: 4096 },
  { extended_master_secret: false, encrypt_then_mac: false, opaque: new Uint8Array(300).fill(3), server_name: "a.b", created_at: 0, timeout: 1 },
  { version: "TLSv1", cipher_suite: 47, master_secret: new Uint8Array(48).fill(4), extended_master_secret: false, encrypt_then_mac: true, peer_certificate_chain: [new Uint8Array(200).fill(5), new Uint8Array(1)], created_at: 2 ** 33, timeout: 604800 },
];

export async function makeFixture(): Promise<FuzzFixture> {
  const keys = new TicketKeyCache();
  keys.add(KEY_ID, new Uint8Array(32).fill(9));
  const key = await keys.subkey(KEY_ID, CONTEXT)!;
  const tickets: Bytes[] = [];
  for (const [i, session] of BASE_SESSIONS.entries()) {
    tickets.push(
      await sealTicket({ session, sessionId: new Uint8Array(1 + (i * 9) % 32).fill(i), withLookupId: i % 2 === 0, issuedAt: 1_800_000_000, lifetime: 7200, singleUse: i === 1, context: CONTEXT, keyId: KEY_ID, key }),
    );
  }
  const jwes: string[] = [];
  for (const [i, session] of BASE_SESSIONS.entries()) {
    jwes.push(await sealJweTicket({ session, sessionId: new Uint8Array(1 + (i * 9) % 32).fill(i), withLookupId: i % 2 === 0, issuedAt: 1_800_000_000, lifetime: 7200, singleUse: i === 1, context: CONTEXT, keyId: KEY_ID, key }));
  }
  return { keys, tickets, sessions: BASE_SESSIONS.map(encodeSession), jwes, store: await makeStoreFixture(keys) };
}

export interface StoreFixture {
  services: OpenServices;
  settings: ContextSettings;
  tickets: { text: string; singleUse: boolean; opened: boolean }[];
}

const STORE_NOW = 1_800_000_001;

/**
 * The store fallback as the open route runs it (src/tickets/open.ts), with
 * in-memory KV and replay guard: tickets sealed with store: true by the seal
 * path itself, their key then revoked, so every open goes to the copies.
 */
async function makeStoreFixture(keys: TicketKeyCache): Promise<StoreFixture> {
  const ticketCopies = new TicketCopies(new ExternalCache(new MemoryStorage(), new Uint8Array(32).fill(7), () => {}));
  const used = new Set<string>();
  const sessions = { context: () => ({ supports: () => true, require: () => {} }) } as unknown as OpenServices["sessions"];
  const settings: ContextSettings = { name: CONTEXT, ticket_lifetime: 7200, session_timeout: 300, ticket_age_window: 10, cache_mode: "server", flags: [], cache_size: 0, cache_bytes: 1 << 20, id_prefix: "", id_length: 32 };
  const times = { id: KEY_ID, published_at: 0, activates_at: 0, deactivates_at: 1_900_000_000, expires_at: 1_900_000_000 };
  const sealing: SealServices = {
    region: "weur",
    keyRing: { sealingKey: async () => ({ times, subkey: keys.subkey(KEY_ID, CONTEXT)! }) },
    ticketCopies,
    sessions,
    now: () => STORE_NOW - 1,
  };
  const tickets: StoreFixture["tickets"] = [];
  for (const [i, format] of (["binary", "jwe", "binary", "jwe"] as const).entries()) {
    const singleUse = i === 2;
    const sealed = await sealPresentedSession(sealing, settings, { session: VALID_JSON_SESSIONS[i % VALID_JSON_SESSIONS.length], store: true, single_use: singleUse, format });
    tickets.push({ text: sealed.ticket, singleUse, opened: false });
  }
  const services: OpenServices = {
    // The key is gone: revoked, so its store tickets go to their copies; any other id was never one.
    keyRing: { decryptingKey: async () => undefined, openingKeys: () => ({ subkey: () => undefined }), wasRevoked: (id) => id === KEY_ID },
    ticketCopies,
    sessions,
    replayGuard: { consume: async (id) => !used.has(id) && !!used.add(id) },
    now: () => STORE_NOW,
    nowMs: () => STORE_NOW * 1000,
  };
  return { services, settings, tickets };
}

/** One mutation of a valid input: bit flips, truncation, extension, splices, header and length-field attacks. */
export function mutate(rng: Prng, seed: Bytes): Bytes {
  const b = seed.slice();
  switch (rng.int(9)) {
    case 0: { // single bit flip
      const i = rng.int(b.length);
      b[i] = b[i]! ^ (1 << rng.int(8));
      return b;
    }
    case 1: // truncation
      return b.subarray(0, rng.int(b.length));
    case 2: { // extension
      const ext = rng.bytes(1 + rng.int(64));
      const out = new Uint8Array(b.length + ext.length);
      out.set(b);
      out.set(ext, b.length);
      return out;
    }
    case 3: // wrong version byte
      b[0] = rng.int(256);
      return b;
    case 4: // a length field set to a huge value: every byte of the first 8 is a candidate
      b[rng.int(Math.min(8, b.length))] = 0xff;
      return b;
    case 5: { // several random byte writes
      for (let n = 1 + rng.int(8); n > 0; n--) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 6: // random bytes of a plausible length
      return rng.bytes(rng.int(b.length * 2 + 1));
    case 7: { // a varint grown to its maximum width
      const i = rng.int(b.length);
      const out = new Uint8Array(b.length + 8);
      out.set(b.subarray(0, i));
      out.fill(0xff, i, i + 8);
      out.set(b.subarray(i), i + 8);
      return out;
    }
    default: // duplicated tail
      return new Uint8Array([...b, ...b.subarray(rng.int(b.length))]);
  }
}

function classify(target: string, input: Bytes | string, e: unknown): Outcome {
  // The core's typed errors, and the service's for request faults (a JWE asking for other crypto).
  if (isResumptionError(e) || (e instanceof ServiceError && statusOf(e.code) < 500)) return "typed_error";
  throw Object.assign(new Error("finding"), {
    finding: { target, input: typeof input === "string" ? input : toHex(input), error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) } satisfies Finding,
  });
}

function isResumptionOrService(e: unknown, code: string): boolean {
  return (isResumptionError(e) || e instanceof ServiceError) && e.code === code;
}

function toHex(b: Bytes): string {
  return Array.from(b.subarray(0, 4096), (x) => x.toString(16).padStart(2, "0")).join("");
}

export const TARGETS = {
  /** Mutated valid tickets through the whole open path (header, key lookup, AES-GCM, body, session). */
  async ticket(rng: Prng, fx: FuzzFixture): Promise<Outcome> {
    // One input in 16 is a valid ticket: the result must then be exactly its session.
    const pick = rng.int(fx.tickets.length);
    const intact = rng.int(16) === 0;
    const input = intact ? fx.tickets[pick]! : mutate(rng, fx.tickets[pick]!);
    try {
      const opened = await openTicket(input, { context: CONTEXT, now: 1_800_000_001, keys: fx.keys });
      const same = encodeSession(opened.session);
      const want = fx.sessions[pick]!;
      if (same.length !== want.length || same.some((x, i) => x !== want[i])) throw new Error("opened a different session than was sealed");
      return "ok";
    } catch (e) {
      if (intact) return classify("ticket", input, new Error(`a valid ticket failed to open: ${(e as Error).message}`));
      return classify("ticket", input, e);
    }
  },
  /** Mutated compact JWE tickets: characters, segments, and protected headers rewritten with hostile members. */
  async jwe(rng: Prng, fx: FuzzFixture): Promise<Outcome> {
    const pick = rng.int(fx.jwes.length);
    const intact = rng.int(16) === 0;
    const input = intact ? fx.jwes[pick]! : mutateJwe(rng, fx.jwes[pick]!);
    try {
      const opened = await openJweTicket(input, { context: CONTEXT, now: 1_800_000_001, keys: fx.keys });
      if (JSON.stringify(sessionToJson(opened.session)) !== JSON.stringify(sessionToJson(BASE_SESSIONS[pick]!))) throw new Error("opened a different session than was sealed");
      return "ok";
    } catch (e) {
      if (intact) return classify("jwe", input, new Error(`a valid JWE ticket failed to open: ${(e as Error).message}`));
      return classify("jwe", input, e);
    }
  },
  /**
   * store: true tickets whose key was revoked, their clear header (or any
   * other part) rewritten, through the open path's store fallback: only the
   * exact ticket a copy was stored for may open, and a single-use one once.
   */
  async storeFallback(rng: Prng, fx: FuzzFixture): Promise<Outcome> {
    const ticket = rng.pick(fx.store.tickets);
    const intact = rng.int(16) === 0;
    let input = ticket.text;
    if (!intact) {
      if (ticket.text.includes(".")) input = mutateJwe(rng, ticket.text);
      else {
        const bytes = decodeBase64url(ticket.text)!;
        // Mostly the header (version, key id, lookup id length and id, nonce: bytes 0 to 16 + L), sometimes anything.
        const b = rng.int(4) === 0 ? mutate(rng, bytes) : bytes.slice();
        if (b.length === bytes.length && b.every((x, i) => x === bytes[i])) {
          const at = rng.int(17 + bytes[4]!);
          b[at] = b[at]! ^ (1 + rng.int(255));
        }
        input = encodeBase64url(b);
      }
    }
    try {
      const opened = await openPresentedTicket(fx.store.services, fx.store.settings, { ticket: input });
      if (input !== ticket.text) throw new Error("a rewritten store ticket opened");
      if (opened.source !== "store") throw new Error("a store ticket of a revoked key opened without its copy");
      if (ticket.singleUse && ticket.opened) throw new Error("a single-use store ticket opened twice");
      ticket.opened = true;
      return "ok";
    } catch (e) {
      // A used single-use ticket: refused by the guard, or found without its copy, which its use removed.
      const used = ticket.singleUse && ticket.opened && (isResumptionOrService(e, "ticket_replayed") || isResumptionOrService(e, "key_unknown"));
      if (intact && !used) {
        return classify("storeFallback", input, new Error(`a valid store ticket failed to open: ${(e as Error).message}`));
      }
      return classify("storeFallback", input, e);
    }
  },
  /** Mutated encoded sessions straight into the decoder (what a ticket body holds after decryption). */
  async session(rng: Prng, fx: FuzzFixture): Promise<Outcome> {
    const input = mutate(rng, rng.pick(fx.sessions));
    try {
      const s = decodeSession(input);
      // A decoded session must re-encode to the same bytes: one encoding per session.
      const again = encodeSession(s);
      if (again.length !== input.length || again.some((x, i) => x !== input[i])) {
        throw new Error("decoded session does not re-encode to its input");
      }
      return "ok";
    } catch (e) {
      return classify("session", input, e);
    }
  },
  /** Random JSON-ish values into the API's session parser. */
  async sessionJson(rng: Prng): Promise<Outcome> {
    // Half the inputs are a valid session with one field replaced, half are anything at all.
    const input = rng.int(2) === 0 ? { ...rng.pick(VALID_JSON_SESSIONS), [rng.pick(FIELDS)]: randomJson(rng, 1) } : randomJson(rng, 3);
    try {
      parseSession(input, { now: 1_800_000_000, timeout: 300 });
      return "ok";
    } catch (e) {
      return classify("sessionJson", JSON.stringify(input) ?? "undefined", e);
    }
  },
  /** Random text into the strict base64url and hex decoders: undefined or bytes that re-encode exactly. */
  async text(rng: Prng): Promise<Outcome> {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. \u00e9\u{1F600}";
    let s = "";
    for (let n = rng.int(40); n > 0; n--) s += alphabet[rng.int(alphabet.length)];
    const b = decodeBase64url(s);
    const h = decodeHex(s);
    if (b === undefined && h === undefined) return "typed_error";
    return "ok";
  },
} satisfies Record<string, (rng: Prng, fx: FuzzFixture) => Promise<Outcome>>;

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEADER_MEMBERS = ["alg", "enc", "kid", "ctx", "iat", "exp", "sid", "zip", "crit", "p2c", "p2s", "epk", "jku", "__proto__"];
const HEADER_VALUES = ["dir", "A256GCM", "A128GCM", "PBES2-HS512+A256KW", "none", "RSA-OAEP", "DEF", "43981", "fuzz", 1_800_000_000, 1_800_007_200, 2 ** 31, -1, null, [], {}];

function b64urlText(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (const x of bytes) bin += String.fromCharCode(x);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** One mutation of a compact JWE: a character, a segment, or its protected header. */
function mutateJwe(rng: Prng, jwe: string): string {
  const parts = jwe.split(".");
  switch (rng.int(6)) {
    case 0: { // one character changed, anywhere (dots included)
      const i = rng.int(jwe.length);
      return jwe.slice(0, i) + (rng.int(8) === 0 ? "." : B64URL[rng.int(64)]) + jwe.slice(i + 1);
    }
    case 1: // truncation
      return jwe.slice(0, rng.int(jwe.length));
    case 2: { // a segment emptied, swapped, duplicated or dropped
      const i = rng.int(5);
      const j = rng.int(5);
      const op = rng.int(4);
      if (op === 0) parts[i] = "";
      else if (op === 1) [parts[i], parts[j]] = [parts[j]!, parts[i]!];
      else if (op === 2) parts.splice(i, 0, parts[j]!);
      else parts.splice(i, 1);
      return parts.join(".");
    }
    case 3: { // the protected header with one member set to a hostile value
      const header = JSON.parse(atob(parts[0]!.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
      header[rng.pick(HEADER_MEMBERS)] = rng.int(2) === 0 ? rng.pick(HEADER_VALUES) : randomJson(rng, 2);
      parts[0] = b64urlText(JSON.stringify(header));
      return parts.join(".");
    }
    case 4: // a protected header that is any JSON at all
      parts[0] = b64urlText(JSON.stringify(randomJson(rng, 3)) ?? "");
      return parts.join(".");
    default: // random base64url segments
      return Array.from({ length: 3 + rng.int(4) }, () => Array.from({ length: rng.int(40) }, () => B64URL[rng.int(64)]).join("")).join(".");
  }
}

const VALID_JSON_SESSIONS: Record<string, unknown>[] = [
  { version: "TLSv1.2", cipher_suite: 49195, master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v", server_name: "resume.example-a.com" },
  { version: "TLSv1.3", cipher_suite: 4865, master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", ticket_age_add: 7, alpn: "h2" },
  { opaque: "AAEC", server_name: "x.example" },
];

const FIELDS = ["version", "cipher_suite", "master_secret", "extended_master_secret", "encrypt_then_mac", "server_name", "alpn", "peer_certificate_chain", "max_fragment_length", "ticket_age_add", "max_early_data", "created_at", "timeout", "opaque", "__proto__", "constructor", "x"];

function randomJson(rng: Prng, depth: number): unknown {
  switch (rng.int(depth > 0 ? 9 : 7)) {
    case 0: return null;
    case 1: return rng.int(2) === 0;
    case 2: return rng.pick([0, -1, 1, 47, 48, 4865, 49195, 65535, 65536, 2 ** 32, 2 ** 53, 1.5, NaN, -0, 1e308]);
    case 3: return rng.pick(["", "TLSv1.2", "TLSv1.3", "AAAA", "a.b", "-a.b", "1.2.3.4", "x".repeat(300), "h2", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"]);
    case 4: return Array.from(rng.bytes(rng.int(8)), (x) => String.fromCharCode(x)).join("");
    case 5: return rng.int(1000);
    case 6: return "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8".slice(0, rng.int(44));
    case 7: return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let n = rng.int(8); n > 0; n--) o[rng.pick(FIELDS)] = randomJson(rng, depth - 1);
      return o;
    }
  }
}

export interface FuzzReport {
  inputs: number;
  byTarget: Record<string, { ok: number; typed_error: number }>;
  findings: Finding[];
  slowestMs: number;
}

/** Runs `count` inputs round-robin over the targets, from `seed`. */
export async function runFuzz(count: number, seed: number, onProgress?: (done: number) => void): Promise<FuzzReport> {
  const fx = await makeFixture();
  const rng = new Prng(seed);
  const names = Object.keys(TARGETS) as (keyof typeof TARGETS)[];
  const report: FuzzReport = { inputs: 0, byTarget: {}, findings: [], slowestMs: 0 };
  for (const n of names) report.byTarget[n] = { ok: 0, typed_error: 0 };
  for (let i = 0; i < count; i++) {
    const name = names[i % names.length]!;
    const started = Date.now();
    try {
      report.byTarget[name]![await TARGETS[name](rng, fx)]++;
    } catch (e) {
      const finding = (e as { finding?: Finding }).finding;
      report.findings.push(finding ?? { target: name, input: "?", error: String(e) });
      if (report.findings.length >= 20) break;
    }
    report.slowestMs = Math.max(report.slowestMs, Date.now() - started);
    report.inputs++;
    if (onProgress && report.inputs % 100_000 === 0) onProgress(report.inputs);
  }
  return report;
}
