/**
 * GET /v1/keys: the ring's public state (no key material).
 * POST /v1/keys/rotate: rotate now; {"revoke": true} also destroys every older key.
 * GET /v1/keys/export?format=…: the ring's keys as TLS ticket keys for terminators (docs/proxies.md),
 * or (format=jwk) the context's ticket subkeys as a JWK Set for JWE tickets.
 */
import { Hono } from "hono";
import type { AppEnv } from "../http/context.js";
import type { Caller } from "../auth/caller.js";
import type { Services } from "../services.js";
import { apiRoutes } from "../http/route.js";
import { boolean, object, optional, type Schema } from "../http/schema.js";
import { keyState, type KeyTimes } from "../keyring/schedule.js";
import { HKDF_LABEL, type Bytes } from "../core/index.js";
import { deferTo } from "../http/context.js";
import { ServiceError } from "../errors.js";
import {
  hashedStekNames,
  isStekFormat,
  MAX_STEK_SLOTS,
  planStekExport,
  renderStekExport,
  STEK_FORMAT_NAMES,
  STEK_FORMATS,
  stekContext,
  type StekFormat,
} from "../keyring/export.js";
import { renderJwkExport } from "../keyring/jwk.js";

/** Every export format: the terminators' key files, and jwk for JOSE consumers of JWE tickets. */
export type ExportFormat = StekFormat | "jwk";
const EXPORT_FORMAT_NAMES: readonly ExportFormat[] = [...STEK_FORMAT_NAMES, "jwk"];

/** GET /v1/keys/export's query: ?format=…[&slots=n]. Unknown parameters are errors, like unknown body fields. */
export function parseExportQuery(params: URLSearchParams): { format: ExportFormat; slots: number | undefined } {
  for (const name of params.keys()) {
    if (name !== "format" && name !== "slots") throw new ServiceError("invalid_request", `${name}: unknown query parameter`, { field: name });
  }
  const format = params.get("format");
  if (format === null) throw new ServiceError("invalid_request", `format: is required (${EXPORT_FORMAT_NAMES.join(", ")})`, { field: "format" });
  if (format !== "jwk" && !isStekFormat(format)) throw new ServiceError("invalid_request", `format: must be one of ${EXPORT_FORMAT_NAMES.join(", ")}`, { field: "format" });
  const raw = params.get("slots");
  if (raw === null) return { format, slots: undefined };
  if (format === "jwk") throw new ServiceError("invalid_request", "slots: jwk exports every live key; it takes no slots", { field: "slots" });
  const slots = /^[0-9]{1,2}$/.test(raw) ? Number(raw) : NaN;
  if (!(slots >= 1 && slots <= MAX_STEK_SLOTS)) throw new ServiceError("invalid_request", `slots: must be an integer from 1 to ${MAX_STEK_SLOTS}`, { field: "slots" });
  if (format === "node48" && slots !== 1) throw new ServiceError("invalid_request", "slots: node48 holds exactly one key", { field: "slots" });
  return { format, slots };
}

/** The export query as a schema: parseExportQuery validates, the document describes. */
export const ExportQuery: Schema<{ format: ExportFormat; slots: number | undefined }> = {
  parse: (query) => parseExportQuery(new URLSearchParams(query as Record<string, string>)),
  jsonSchema: () => ({
    type: "object",
    required: ["format"],
    properties: {
      format: { type: "string", enum: [...EXPORT_FORMAT_NAMES], description: "the terminator's key file format (docs/proxies.md), or jwk: the context's ticket subkeys as a JWK Set, for JWE tickets" },
      slots: { type: "integer", minimum: 1, maximum: MAX_STEK_SLOTS, description: "how many keys to export (default 4 for nginx and go, 3 for haproxy; node48: exactly 1; jwk: not taken)" },
    },
  }),
};

export const RotateBody = object({
  revoke: optional(boolean("also destroy every older key at once (suspected key compromise)")),
});

export function describeKey(k: KeyTimes, now: number) {
  return {
    id: k.id,
    state: keyState(k, now),
    published_at: k.published_at,
    activates_at: k.activates_at,
    deactivates_at: k.deactivates_at,
    expires_at: k.expires_at,
  };
}

const UNIX_SECONDS = { type: "integer", description: "unix seconds" };
const KEY_STATE = {
  type: "object",
  properties: {
    id: { type: "integer", description: "24-bit key id, as in the ticket header" },
    state: { type: "string", enum: ["pending", "active", "retiring"] },
    published_at: UNIX_SECONDS,
    activates_at: UNIX_SECONDS,
    deactivates_at: { ...UNIX_SECONDS, description: "unix seconds: when it stops encrypting" },
    expires_at: { ...UNIX_SECONDS, description: "unix seconds: when it is destroyed" },
  },
};

export const keys = new Hono<AppEnv>();

apiRoutes.define(
  keys,
  {
    method: "get",
    path: "/v1/keys",
    summary: "The key ring's public state as this isolate's copy holds it: each key's id, state and times, the revoked keys, and the rotation settings. No key material.",
    description: "Answered from the isolate's copy of the ring (read from the ring's read tier, at most about cache_ttl old; fetched_at says when), never by asking the ring's Durable Object on every request.",
    scope: ["keys", "admin"],
    responses: {
      200: {
        description: "the ring",
        schema: {
          type: "object",
          properties: {
            now: UNIX_SECONDS,
            fetched_at: { ...UNIX_SECONDS, description: "when this isolate's copy was last known current" },
            keys: { type: "array", items: KEY_STATE },
            revoked: { type: "array", items: { type: "object", properties: { id: { type: "integer" }, expires_at: UNIX_SECONDS } }, description: "keys a revoke destroyed whose tickets could still be alive: their store: true tickets may still resume from their copies" },
            settings: { type: "object" },
          },
        },
      },
    },
    errors: ["keyring_unavailable"],
  },
  async (c) => {
    const { services } = c.var;
    const now = services.now();
    const ring = await services.keyRing.liveKeys(now, deferTo(c));
    return c.json({
      now,
      fetched_at: ring.fetchedAt,
      keys: ring.keys.map((k) => describeKey(k, now)),
      revoked: ring.revoked,
      settings: { ...ring.settings, cache_ttl: services.config.keyRing.cache_ttl, peak_seal_rate: services.config.keyRing.peak_seal_rate },
    });
  },
);

// The ring's keys as TLS ticket keys for nginx, Envoy, HAProxy, Node or Go
// (src/keyring/export.ts, docs/proxies.md). Key material: admin or the
// narrower stek scope only, never cached.
apiRoutes.define(
  keys,
  {
    method: "get",
    path: "/v1/keys/export",
    summary: "The ring's keys as TLS session ticket keys for terminators that do their own ticket crypto, in the order each program needs; or format=jwk: the context's ticket subkeys as a JWK Set.",
    description: "Derived from the ring keys by HKDF (the format and the caller's context in the info), so every location exports identical bytes. jwk: each key is the very AES-256-GCM subkey that seals the context's tickets (kid = key id), so its holder can open and make JWE and binary tickets of the context. Never cached.",
    scope: ["admin", "stek"],
    query: ExportQuery,
    responses: { 200: { description: "the keys, and ready-to-write files where the program reads files", schema: { type: "object" } } },
    errors: ["keyring_unavailable"],
  },
  async (c, { query }) => {
    const { format, slots } = query;
    const { services, caller } = c.var;
    const now = services.now();
    if (format === "jwk") return c.json(await exportJwk(c.var, now, deferTo(c)));
    let ring = await services.keyRing.liveKeys(now, deferTo(c));
    let plan = planStekExport(ring.keys, format, slots);
    if (!plan) {
      // The cached copy has no key that encrypts now: fetch the ring once.
      await services.keyRing.refresh(now);
      ring = await services.keyRing.liveKeys(now);
      plan = planStekExport(ring.keys, format, slots);
    }
    if (!plan) throw new ServiceError("keyring_unavailable", "no key may encrypt now");
    const { keyBytes } = STEK_FORMATS[format];
    const info = stekContext(format, caller.context);
    const bytes = new Map<number, Bytes>();
    for (const k of plan.keys) {
      const derived = services.keyRing.deriveKeyBytes(k.id, HKDF_LABEL.stek, info, keyBytes, now);
      if (!derived) throw new ServiceError("keyring_unavailable", "a key left the ring during the export; retry");
      bytes.set(k.id, await derived);
    }
    const hashedNames = await hashedStekNames(format, bytes);
    const body = renderStekExport(plan, bytes, { context: caller.context, now, cacheTtl: services.config.keyRing.cache_ttl, live: ring.keys, hashedNames });
    for (const b of bytes.values()) b.fill(0);
    c.header("cache-control", "no-store");
    return c.json(body);
  },
);

/**
 * Every live key's ticket subkey for the caller's context. A ring copy with
 * no active key is refreshed once, as for the terminator formats: an export
 * with nothing to encrypt with is never the answer.
 */
async function exportJwk(
  { services, caller }: { services: Services; caller: Caller },
  now: number,
  defer: (p: Promise<unknown>) => void,
) {
  let ring = await services.keyRing.liveKeys(now, defer);
  if (!ring.keys.some((k) => k.state === "active")) {
    await services.keyRing.refresh(now);
    ring = await services.keyRing.liveKeys(now);
  }
  if (!ring.keys.some((k) => k.state === "active")) throw new ServiceError("keyring_unavailable", "no key may encrypt now");
  const bytes = new Map<number, Bytes>();
  try {
    for (const k of ring.keys) {
      const derived = services.keyRing.deriveKeyBytes(k.id, HKDF_LABEL.ticket, caller.context, 32, now);
      if (!derived) throw new ServiceError("keyring_unavailable", "a key left the ring during the export; retry");
      bytes.set(k.id, await derived);
    }
    return renderJwkExport(ring.keys, bytes, { context: caller.context, now, cacheTtl: services.config.keyRing.cache_ttl, liveTimes: ring.keys });
  } finally {
    for (const b of bytes.values()) b.fill(0);
  }
}

apiRoutes.define(
  keys,
  {
    method: "post",
    path: "/v1/keys/rotate",
    summary: "Rotate now: the published successor encrypts as soon as every location can know it. {\"revoke\": true} destroys every older key at once.",
    scope: "admin",
    body: RotateBody,
    bodyOptional: true,
    responses: { 200: { description: "the ring after the rotation", schema: { type: "object", properties: { now: UNIX_SECONDS, activates_at: UNIX_SECONDS, revoked: { type: "array", items: { type: "integer" } }, keys: { type: "array", items: KEY_STATE } } } } },
    errors: ["keyring_unavailable"],
  },
  async (c, { body }) => {
    const { services } = c.var;
    const now = services.now();
    const result = await services
      .ringObject()
      .rotate(now, body.revoke === true)
      .catch(() => {
        throw new ServiceError("keyring_unavailable", "the key ring cannot be reached; the rotation may not have happened (check GET /v1/keys)");
      });
    // This isolate (and its location's cache) takes the new ring at once; the
    // object has published it to the read tier, where others read it.
    await services.keyRing.accept(result.ring, now);
    return c.json({
      now,
      activates_at: result.activates_at,
      revoked: result.revoked,
      keys: result.ring.keys.map((k) => describeKey(k, now)),
    });
  },
);
