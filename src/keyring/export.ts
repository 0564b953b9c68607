/**
 * Session ticket encryption keys (STEKs) for terminators that do their own
 * ticket crypto: nginx, Envoy, HAProxy, Node, Go. Pure functions of the ring's
 * live keys and `now` (and, for Go's key names, a SHA-512); the route
 * (src/routes/keys.ts) derives the bytes.
 *
 * Each ring key maps to one terminator key by HKDF-SHA-256 from the ring key
 * (label "esr stek v1", the format and the caller's context in the info), so
 * every location exports the same bytes for the same ring, two formats never
 * share a key, and two contexts (tenants) never resume each other's tickets.
 *
 * Where each program encrypts from (docs/proxies.md cites the sources):
 *  - nginx (ssl_session_ticket_key, one file per directive) and Envoy
 *    (session_ticket_keys): the first key encrypts, every key decrypts.
 *  - HAProxy (tls-ticket-keys, base64 lines): the last TLS_TICKETS_NO lines
 *    (default 3) are loaded and the penultimate one encrypts.
 *  - Node (server.setTicketKeys): exactly one 48-byte key, which does both.
 *  - Go (tls.Config.SetSessionTicketKeys): 32-byte keys, the first encrypts,
 *    every key decrypts; Go derives its own name, AES and HMAC keys from each.
 */
import { encodeBase64url, encodeHex, type Bytes } from "../core/index.js";
import { nextEvent, type KeyState, type KeyTimes } from "./schedule.js";

export interface StekFormatSpec {
  /** Bytes per terminator key. */
  keyBytes: number;
  /** Which position encrypts. */
  encrypts: "first" | "penultimate" | "only";
  /** Key positions the terminator's config lists, unless the caller asks for another number. */
  defaultSlots: number;
  /** How the keys are written for the program. */
  files: "one-binary-file-per-key" | "base64-lines" | "none";
  /** The byte layout the program reads (informational: all of it is HKDF output). */
  layout: string;
  /**
   * The key name the program writes in clear at the start of each ticket:
   * the key's first 16 bytes, or (Go) the first 16 bytes of its SHA-512.
   */
  keyName: "prefix" | "sha512-prefix";
}

export const STEK_FORMATS = {
  nginx80: {
    keyBytes: 80,
    encrypts: "first",
    defaultSlots: 4,
    files: "one-binary-file-per-key",
    layout: "name[16] hmac_key[32] aes_key[32]: AES-256-CBC, HMAC-SHA-256 (also Envoy's session_ticket_keys)",
    keyName: "prefix",
  },
  nginx48: {
    keyBytes: 48,
    encrypts: "first",
    defaultSlots: 4,
    files: "one-binary-file-per-key",
    layout: "name[16] aes_key[16] hmac_key[16]: AES-128-CBC, HMAC-SHA-256",
    keyName: "prefix",
  },
  haproxy: {
    keyBytes: 80,
    encrypts: "penultimate",
    defaultSlots: 3,
    files: "base64-lines",
    layout: "name[16] aes_key[32] hmac_key[32]: AES-256-CBC, HMAC-SHA-256",
    keyName: "prefix",
  },
  node48: {
    keyBytes: 48,
    encrypts: "only",
    defaultSlots: 1,
    files: "none",
    layout: "name[16] hmac_key[16] aes_key[16]: AES-128-CBC, HMAC-SHA-256",
    keyName: "prefix",
  },
  go: {
    keyBytes: 32,
    encrypts: "first",
    defaultSlots: 4,
    files: "none",
    layout: "key[32]: crypto/tls takes name[16] aes_key[16] hmac_key[16] from SHA-512(key): AES-128-CTR, HMAC-SHA-256",
    keyName: "sha512-prefix",
  },
} as const satisfies Record<string, StekFormatSpec>;

export type StekFormat = keyof typeof STEK_FORMATS;
export const STEK_FORMAT_NAMES = Object.keys(STEK_FORMATS) as StekFormat[];
export const MAX_STEK_SLOTS = 16;

export function isStekFormat(name: string): name is StekFormat {
  return Object.prototype.hasOwnProperty.call(STEK_FORMATS, name);
}

/** HKDF info context: the format and the caller's context (":" is in neither name). */
export function stekContext(format: StekFormat, context: string): string {
  return `${format}:${context}`;
}

export type LiveKey = KeyTimes & { state: KeyState };
export type StekRole = "encrypt" | "decrypt";
export type PlannedKey = LiveKey & { role: StekRole };

export interface StekPlan {
  format: StekFormat;
  slots: number;
  /** The exported keys, each once, in the program's order (what a program reads from a list). */
  keys: PlannedKey[];
  /** One key id per file position; padding repeats the encrypting key (a duplicate only ever decrypts what the original does). */
  positions: number[];
  /** Live keys that did not fit in `slots`: their tickets fall back to full handshakes. */
  dropped: number[];
}

/**
 * Chooses and orders the keys for a format. Which keys matter most: the
 * active key (it must encrypt), then pending keys (another location may
 * already encrypt with them once they activate), then retiring keys, newest
 * first (their tickets are the youngest). Undefined when no key is active at
 * the copy's `now`: the caller refreshes the ring rather than export a ring
 * with nothing to encrypt with.
 */
export function planStekExport(live: readonly LiveKey[], format: StekFormat, slots?: number): StekPlan | undefined {
  const spec: StekFormatSpec = STEK_FORMATS[format];
  const n = spec.encrypts === "only" ? 1 : Math.min(Math.max(slots ?? spec.defaultSlots, 1), MAX_STEK_SLOTS);
  const active = live.find((k) => k.state === "active");
  if (!active) return undefined;
  const pending = live.filter((k) => k.state === "pending").sort((a, b) => a.activates_at - b.activates_at);
  const retiring = live.filter((k) => k.state === "retiring").sort((a, b) => b.deactivates_at - a.deactivates_at);
  const role = (k: LiveKey, r: StekRole): PlannedKey => ({ ...k, role: r });

  let keys: PlannedKey[];
  let positions: number[];
  if (spec.encrypts === "penultimate") {
    // HAProxy: [...older retiring, newest retiring, ACTIVE, next]. Only one
    // position follows the encrypting key, so at most one pending key fits.
    const next = pending[0];
    const older = retiring.slice(0, Math.max(n - 2, 0)).reverse();
    keys = [...older.map((k) => role(k, "decrypt")), role(active, "encrypt"), ...(n >= 2 && next ? [role(next, "decrypt")] : [])];
    positions = keys.map((k) => k.id);
    if (n >= 2 && !next) positions.push(active.id); // the active key must stay penultimate
    while (positions.length < n) positions.unshift(active.id);
  } else {
    // nginx, Envoy, Node, Go: the first key encrypts.
    const ordered = [active, ...pending, ...retiring].slice(0, n);
    keys = ordered.map((k, i) => role(k, i === 0 ? "encrypt" : "decrypt"));
    positions = keys.map((k) => k.id);
    while (positions.length < n) positions.push(active.id);
  }
  const exported = new Set(keys.map((k) => k.id));
  const dropped = live.filter((k) => !exported.has(k.id)).map((k) => k.id);
  return { format, slots: n, keys, positions, dropped };
}

export interface StekKeyOut {
  id: number;
  state: KeyState;
  role: StekRole;
  /** The 16-byte key name (hex) the program writes in clear at the start of each ticket. */
  name: string;
  /** The terminator key, base64url like every binary field of the API. */
  key: string;
  activates_at: number;
  deactivates_at: number;
  expires_at: number;
}

export interface StekFile {
  name: string;
  /** base64: standard padded base64 of binary content (`base64 -d` writes it); utf8: text to write as is. */
  encoding: "base64" | "utf8";
  content: string;
}

export interface StekExport {
  format: StekFormat;
  /** The caller's context: keys differ between contexts. */
  context: string;
  now: number;
  key_bytes: number;
  slots: number;
  keys: StekKeyOut[];
  /** Ready-to-write files for file-based programs (absent for node48 and go, which poll the export themselves). */
  files?: StekFile[];
  dropped: number[];
  /** Changes exactly when the files' content changes: rewrite and reload only then. */
  revision: string;
  /** Next time a key changes state (the export changes then, even without a rotation); null if none is known. */
  next_change_at: number | null;
  /** Seconds until the poller should fetch again. */
  refresh_after: number;
}

/** Standard padded base64, for file contents (HAProxy's lines, `base64 -d`). */
export function encodeBase64(bytes: Bytes): string {
  const url = encodeBase64url(bytes).replace(/-/g, "+").replace(/_/g, "/");
  return url + "=".repeat((4 - (url.length % 4)) % 4);
}

/**
 * When to poll again: at the next key event (an activation reorders the
 * keys), and at least every cache_ttl (how stale the service's own copy may
 * be, so a forced rotation or a revoke reaches pollers within two cache_ttl).
 */
export function refreshAfter(live: readonly KeyTimes[], now: number, cacheTtl: number): { next_change_at: number | null; refresh_after: number } {
  const next = nextEvent(live, now);
  const wait = next === undefined ? cacheTtl : Math.min(cacheTtl, next - now);
  return { next_change_at: next ?? null, refresh_after: Math.max(1, wait) };
}

/**
 * The key names of a format whose program hashes its keys (Go: the first 16
 * bytes of SHA-512(key)), by ring key id, for renderStekExport; empty for the
 * formats whose name is the key's own first 16 bytes. Async: WebCrypto's digest.
 */
export async function hashedStekNames(format: StekFormat, bytes: ReadonlyMap<number, Bytes>): Promise<Map<number, string>> {
  const names = new Map<number, string>();
  if ((STEK_FORMATS[format] as StekFormatSpec).keyName !== "sha512-prefix") return names;
  for (const [id, key] of bytes) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-512", key));
    names.set(id, encodeHex(digest.subarray(0, 16)));
  }
  return names;
}

export function renderStekExport(
  plan: StekPlan,
  bytes: ReadonlyMap<number, Bytes>,
  options: { context: string; now: number; cacheTtl: number; live: readonly KeyTimes[]; hashedNames?: ReadonlyMap<number, string> },
): StekExport {
  const spec: StekFormatSpec = STEK_FORMATS[plan.format];
  const keyOf = (id: number): Bytes => {
    const b = bytes.get(id);
    if (!b || b.length !== spec.keyBytes) throw new Error(`no ${spec.keyBytes}-byte key for ring key ${id}`);
    return b;
  };
  const nameOf = (id: number): string => {
    if (spec.keyName === "prefix") return encodeHex(keyOf(id).subarray(0, 16));
    const name = options.hashedNames?.get(id);
    if (!name) throw new Error(`no hashed key name for ring key ${id} (hashedStekNames)`);
    return name;
  };
  const keys = plan.keys.map((k) => ({
    id: k.id,
    state: k.state,
    role: k.role,
    name: nameOf(k.id),
    key: encodeBase64url(keyOf(k.id)),
    activates_at: k.activates_at,
    deactivates_at: k.deactivates_at,
    expires_at: k.expires_at,
  }));
  let files: StekFile[] | undefined;
  if (spec.files === "one-binary-file-per-key") {
    files = plan.positions.map((id, i) => ({ name: `stek.${i}.key`, encoding: "base64", content: encodeBase64(keyOf(id)) }));
  } else if (spec.files === "base64-lines") {
    files = [{ name: "tls-ticket-keys", encoding: "utf8", content: plan.positions.map((id) => `${encodeBase64(keyOf(id))}\n`).join("") }];
  }
  const roles = new Map(plan.keys.map((k) => [k.id, k.role]));
  const revision = `${plan.format}.${plan.slots}.${plan.positions.map((id) => `${id.toString(16)}${roles.get(id) === "encrypt" ? "e" : "d"}`).join("-")}`;
  return {
    format: plan.format,
    context: options.context,
    now: options.now,
    key_bytes: spec.keyBytes,
    slots: plan.slots,
    keys,
    ...(files && { files }),
    dropped: plan.dropped,
    revision,
    ...refreshAfter(options.live, options.now, options.cacheTtl),
  };
}
