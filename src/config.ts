/**
 * Settings, parsed and validated once per isolate into one typed object.
 * Handlers never read env directly. A wrong setting is an error that names
 * the setting, never its secret value.
 */
import { SCOPES, type Scope } from "./auth/caller.js";
import { parseJwtIssuers, type JwtIssuer } from "./auth/issuers.js";
import { decodeBase64url, decodeHex, type Bytes } from "./core/index.js";
import { ConfigError } from "./errors.js";

/** RFC 8446 4.6.1: no ticket lives longer than 7 days. */
export const MAX_TICKET_LIFETIME = 604_800;

export interface ContextSettings {
  name: string;
  /** Seconds a ticket may be resumed for (capped at 604800). */
  ticket_lifetime: number;
  /** Seconds a stored session may be resumed for, by default. */
  session_timeout: number;
  /** Seconds the client's view of a ticket's age may differ from the server's (RFC 8446 8.3). */
  ticket_age_window: number;
  /** Which session caches the context has: off, server (by session id), client (by origin peer) or both. */
  cache_mode: CacheMode;
  /** Session cache modifiers, with OpenSSL's meanings (docs/session-store.md). */
  flags: readonly CacheFlag[];
  /** Most sessions the isolate's internal cache holds (SSL_CTX_sess_set_cache_size); 0: bounded by cache_bytes only. */
  cache_size: number;
  /** Most bytes the isolate's internal cache holds for this context. */
  cache_bytes: number;
  /** Lowercase hex every generated session id starts with (clipped to id_length); "" for none. */
  id_prefix: string;
  /** Bytes in a generated session id, 1 to 32. */
  id_length: number;
}

/** SSL_CTX_set_session_cache_mode's modes. */
export const CACHE_MODES = ["off", "server", "client", "both"] as const;
export type CacheMode = (typeof CACHE_MODES)[number];
/** The SSL_SESS_CACHE_* modifiers; no_internal is no_internal_lookup plus no_internal_store. */
export const CACHE_FLAGS = ["no_internal_lookup", "no_internal_store", "no_internal", "no_auto_clear", "update_time"] as const;
export type CacheFlag = (typeof CACHE_FLAGS)[number];

export interface KeyRingSettings {
  /** Seconds a key encrypts for. */
  rotation_period: number;
  /** Seconds a key is published before it activates. */
  prepublish_lead: number;
  /** Expected peak seals per second, fleet-wide: bounds rotation_period by the GCM nonce limit. */
  peak_seal_rate: number;
  /** Seconds an isolate may use its cached copy of the ring before asking again. */
  cache_ttl: number;
}

export interface TokenGrant {
  /** SHA-256 of the token. */
  hash: Bytes;
  context: string;
  scopes: ReadonlySet<Scope>;
}

export interface Config {
  contexts: ReadonlyMap<string, ContextSettings>;
  contextNames: readonly string[];
  tokens: readonly TokenGrant[];
  /** Issuers whose signed JWTs are accepted beside API_TOKENS (JWT_ISSUERS); empty: JWT authentication is off. */
  jwtIssuers: readonly JwtIssuer[];
  masterKey: Bytes;
  keyRing: KeyRingSettings;
  /** Longest ticket lifetime of any context: how long a key must decrypt after it stops encrypting. */
  maxTicketLifetime: number;
  /** Durable Objects the single-use record is spread over (ids hash to a shard). */
  replayShards: number;
  /** Exact origins whose pages may call the service from a browser (CORS_ORIGINS); empty: no CORS headers at all. */
  corsOrigins: ReadonlySet<string>;
}

/** The raw bindings settings come from. */
export interface SettingsEnv {
  MASTER_KEY?: string;
  API_TOKENS?: string;
  CONTEXTS?: string;
  KEY_RING_SETTINGS?: string;
  REPLAY_GUARD_SHARDS?: string;
  /** JSON: issuers whose JWTs are accepted beside API_TOKENS (src/auth/issuers.ts); absent: JWT authentication is off. */
  JWT_ISSUERS?: string;
  /** JSON: exact origins (["https://app.example.com"]) whose pages may call the service; absent: no CORS. */
  CORS_ORIGINS?: string;
}

/** NIST SP 800-38D 8.3: at most 2^32 encryptions under one key with random 96-bit nonces. */
export const GCM_RANDOM_NONCE_LIMIT = 2 ** 32;

const CONTEXT_DEFAULTS: Omit<ContextSettings, "name"> = {
  ticket_lifetime: 7200,
  session_timeout: 300,
  ticket_age_window: 10,
  cache_mode: "server",
  flags: [],
  // OpenSSL's SSL_SESSION_CACHE_MAX_SIZE_DEFAULT.
  cache_size: 20_480,
  // About 13 MB of heap holds OpenSSL's 20480 TLS 1.2 sessions: the count,
  // not the bytes, bounds a default context (src/store/records.ts, recordSize).
  cache_bytes: 16 * 1024 * 1024,
  id_prefix: "",
  id_length: 32,
};
const KEY_RING_DEFAULTS: KeyRingSettings = { rotation_period: 3600, prepublish_lead: 600, peak_seal_rate: 100_000, cache_ttl: 30 };
/**
 * A published key reaches every isolate within the ring's read tier's lag
 * (KV's 60 s, a location cache's 20 s: src/keyring/tier.ts) plus an
 * isolate's refresh (up to 1.2 × cache_ttl); a key must be known everywhere
 * before it encrypts.
 */
const PROPAGATION_BOUND = 80;
const propagation = (cacheTtl: number) => PROPAGATION_BOUND + Math.ceil(1.2 * cacheTtl);

type Rule = (value: unknown) => string | undefined;
const integer = (min: number, max: number): Rule => (v) =>
  typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? undefined : `must be an integer from ${min} to ${max}`;
const oneOf = (values: readonly string[]): Rule => (v) =>
  typeof v === "string" && values.includes(v) ? undefined : `must be one of ${values.join(", ")}`;
const listOf = (values: readonly string[]): Rule => (v) => {
  if (!Array.isArray(v)) return `must be a list of ${values.join(", ")}`;
  const bad = v.findIndex((x) => typeof x !== "string" || !values.includes(x));
  return bad < 0 ? undefined : `[${bad}] must be one of ${values.join(", ")}`;
};
const hexBytes = (maxBytes: number): Rule => (v) =>
  typeof v === "string" && v.length <= 2 * maxBytes && /^([0-9a-f]{2})*$/.test(v)
    ? undefined
    : `must be lowercase hex of whole bytes, at most ${maxBytes} bytes`;

function parseJsonSetting(setting: string, raw: string | undefined, fallback: unknown): unknown {
  if (raw === undefined || raw.trim() === "") return fallback;
  try {
    return JSON.parse(raw);
  } catch {
    throw new ConfigError(setting, "is not valid JSON");
  }
}

function asObject(setting: string, v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new ConfigError(setting, "must be a JSON object");
  return v as Record<string, unknown>;
}

/** Applies rules to a settings object: unknown keys and bad values are errors naming the key. */
function applyRules<T extends object>(
  setting: string,
  input: Record<string, unknown>,
  defaults: T,
  rules: Record<keyof T, Rule>,
): T {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(input)) {
    // Own properties only: "constructor" or "hasOwnProperty" would otherwise find Object.prototype's.
    const rule = Object.hasOwn(rules, key) ? (rules as Record<string, Rule>)[key] : undefined;
    if (!rule) throw new ConfigError(`${setting}.${key}`, "is not a known setting");
    const problem = rule(value);
    if (problem) throw new ConfigError(`${setting}.${key}`, problem);
    out[key] = value;
  }
  return out as T;
}

export function parseMasterKey(raw: string | undefined): Bytes {
  if (!raw) throw new ConfigError("MASTER_KEY", "is not set (a 32-byte secret, as 64 hex digits or 43 base64url characters)");
  const text = raw.trim();
  const key = text.length === 64 ? decodeHex(text.toLowerCase()) : text.length === 43 ? decodeBase64url(text) : undefined;
  if (!key) throw new ConfigError("MASTER_KEY", "must be 32 bytes, as 64 hex digits or 43 base64url characters");
  return key;
}

function parseContexts(raw: string | undefined): Map<string, ContextSettings> {
  const obj = asObject("CONTEXTS", parseJsonSetting("CONTEXTS", raw, { default: {} }));
  const contexts = new Map<string, ContextSettings>();
  for (const [name, value] of Object.entries(obj)) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
      throw new ConfigError(`CONTEXTS.${name}`, "a context name is 1 to 64 of A-Z a-z 0-9 . _ -");
    }
    const settings = applyRules(`CONTEXTS.${name}`, asObject(`CONTEXTS.${name}`, value), CONTEXT_DEFAULTS, {
      ticket_lifetime: integer(1, MAX_TICKET_LIFETIME),
      session_timeout: integer(1, MAX_TICKET_LIFETIME),
      ticket_age_window: integer(0, 3600),
      cache_mode: oneOf(CACHE_MODES),
      flags: listOf(CACHE_FLAGS),
      cache_size: integer(0, 1_000_000),
      cache_bytes: integer(64 * 1024, 64 * 1024 * 1024),
      // Session ids are 1 to 32 bytes: a longer prefix could never be used.
      id_prefix: hexBytes(32),
      id_length: integer(1, 32),
    });
    contexts.set(name, { name, ...settings });
  }
  if (contexts.size === 0) throw new ConfigError("CONTEXTS", "must name at least one context");
  return contexts;
}

function parseKeyRing(raw: string | undefined): KeyRingSettings {
  const obj = asObject("KEY_RING_SETTINGS", parseJsonSetting("KEY_RING_SETTINGS", raw, {}));
  const s = applyRules("KEY_RING_SETTINGS", obj, KEY_RING_DEFAULTS, {
    rotation_period: integer(60, 7 * 86_400),
    prepublish_lead: integer(PROPAGATION_BOUND, 86_400),
    peak_seal_rate: integer(1, 10_000_000),
    cache_ttl: integer(1, 300),
  });
  if (s.rotation_period * s.peak_seal_rate >= GCM_RANDOM_NONCE_LIMIT) {
    throw new ConfigError(
      "KEY_RING_SETTINGS.rotation_period",
      `${s.rotation_period} s × peak_seal_rate ${s.peak_seal_rate}/s = ${s.rotation_period * s.peak_seal_rate} seals per key, at or above the 2^32 limit for random 96-bit GCM nonces`,
    );
  }
  if (s.prepublish_lead < propagation(s.cache_ttl)) {
    throw new ConfigError(
      "KEY_RING_SETTINGS.prepublish_lead",
      `must be at least ${propagation(s.cache_ttl)} s: the read tier's ${PROPAGATION_BOUND} s plus 1.2 × cache_ttl (${s.cache_ttl} s), so every location knows a key before it encrypts`,
    );
  }
  if (s.prepublish_lead > s.rotation_period) {
    throw new ConfigError("KEY_RING_SETTINGS.prepublish_lead", "must not exceed rotation_period (one pending key at a time)");
  }
  return s;
}

function parseTokens(raw: string | undefined, contexts: ReadonlyMap<string, ContextSettings>): TokenGrant[] {
  const obj = asObject("API_TOKENS", parseJsonSetting("API_TOKENS", raw, {}));
  const grants: TokenGrant[] = [];
  for (const [hashHex, value] of Object.entries(obj)) {
    // Errors name the entry by position: the hash is not secret, but a
    // pasted token in the wrong place would be.
    const where = `API_TOKENS[${grants.length}]`;
    const hash = /^[0-9a-f]{64}$/.test(hashHex) ? decodeHex(hashHex) : undefined;
    if (!hash) throw new ConfigError(where, "keys are the SHA-256 of a token as 64 lowercase hex digits");
    const entry = asObject(where, value);
    for (const key of Object.keys(entry)) {
      if (key !== "context" && key !== "scopes") throw new ConfigError(`${where}.${key}`, "is not a known setting");
    }
    if (typeof entry.context !== "string" || !contexts.has(entry.context)) {
      throw new ConfigError(`${where}.context`, "must name a context defined in CONTEXTS");
    }
    if (!Array.isArray(entry.scopes) || entry.scopes.length === 0 || !entry.scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) {
      throw new ConfigError(`${where}.scopes`, `must be a non-empty list of ${SCOPES.join(", ")}`);
    }
    grants.push({ hash, context: entry.context, scopes: new Set(entry.scopes as Scope[]) });
  }
  return grants;
}

/**
 * Changing the shard count moves ids to other shards, which then have not
 * seen them: change it only with every single-use ticket's key retired.
 */
function parseReplayShards(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === "") return 32;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new ConfigError("REPLAY_GUARD_SHARDS", "must be an integer from 1 to 1024");
  return n;
}

/** More would be a sign that a wildcard is wanted, which is never offered. */
export const MAX_CORS_ORIGINS = 64;

/**
 * CORS_ORIGINS: a JSON array of exact origins, each as a browser sends it in
 * Origin (scheme, host, port only when not the default: what URL.origin
 * gives). No wildcards and no "null" (sandboxed frames, file: pages): the
 * service answers with the caller's own origin, never "*". Plain http only
 * for loopback hosts, where a development page runs.
 */
export function parseCorsOrigins(raw: string | undefined): ReadonlySet<string> {
  const list = parseJsonSetting("CORS_ORIGINS", raw, []);
  if (!Array.isArray(list)) throw new ConfigError("CORS_ORIGINS", 'must be a JSON array of origins, e.g. ["https://app.example.com"]');
  if (list.length > MAX_CORS_ORIGINS) throw new ConfigError("CORS_ORIGINS", `must list at most ${MAX_CORS_ORIGINS} origins`);
  const origins = new Set<string>();
  list.forEach((value, i) => {
    const where = `CORS_ORIGINS[${i}]`;
    if (typeof value !== "string") throw new ConfigError(where, "must be a string");
    if (value === "*" || value === "null") throw new ConfigError(where, `${JSON.stringify(value)} is not allowed: list the exact origins of the pages that call the service`);
    let url: URL | undefined;
    try {
      url = new URL(value);
    } catch {
      url = undefined;
    }
    if (!url || url.origin !== value) {
      throw new ConfigError(where, `must be an exact origin, scheme://host[:port] in lowercase with no path or trailing slash${url && url.origin !== "null" ? ` (${JSON.stringify(url.origin)}?)` : ""}`);
    }
    if (url.protocol !== "https:" && !(url.protocol === "http:" && ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname))) {
      throw new ConfigError(where, "must be https (http only for localhost, 127.0.0.1 or [::1])");
    }
    if (origins.has(value)) throw new ConfigError(where, "is listed twice");
    origins.add(value);
  });
  return origins;
}

export function parseConfig(env: SettingsEnv): Config {
  const contexts = parseContexts(env.CONTEXTS);
  const keyRing = parseKeyRing(env.KEY_RING_SETTINGS);
  return {
    contexts,
    contextNames: [...contexts.keys()],
    tokens: parseTokens(env.API_TOKENS, contexts),
    jwtIssuers: parseJwtIssuers(env.JWT_ISSUERS, new Set(contexts.keys())),
    masterKey: parseMasterKey(env.MASTER_KEY),
    keyRing,
    maxTicketLifetime: Math.max(...[...contexts.values()].map((c) => c.ticket_lifetime)),
    replayShards: parseReplayShards(env.REPLAY_GUARD_SHARDS),
    corsOrigins: parseCorsOrigins(env.CORS_ORIGINS),
  };
}

const configCache = new Map<string, Config>();

/**
 * parseConfig, memoised on the raw settings: an isolate parses its settings
 * once, and again only if they change (a new deployment of secrets).
 */
export function loadConfig(env: SettingsEnv): Config {
  // The runtime hands every request of an isolate the same env object: the
  // common case is one WeakMap lookup, not a fingerprint of every setting.
  const known = configByEnv.get(env);
  if (known) return known;
  const fingerprint = JSON.stringify([env.MASTER_KEY, env.API_TOKENS, env.CONTEXTS, env.KEY_RING_SETTINGS, env.REPLAY_GUARD_SHARDS, env.JWT_ISSUERS, env.CORS_ORIGINS]);
  let config = configCache.get(fingerprint);
  if (!config) {
    config = parseConfig(env);
    if (configCache.size > 8) configCache.clear();
    configCache.set(fingerprint, config);
  }
  configByEnv.set(env, config);
  return config;
}

const configByEnv = new WeakMap<SettingsEnv, Config>();
