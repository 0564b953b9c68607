/**
 * GET /v1/keys: the ring's public state (no key material).
 * POST /v1/keys/rotate: rotate now; {"revoke": true} also destroys every older key.
 * GET /v1/keys/export?format=…: the ring's keys as TLS ticket keys for terminators (docs/proxies.md),
 * or (format=jwk) the context's ticket subkeys as a JWK Set for JWE tickets.
 * The contract is src/api/keys.ts.
 */
import { describeKey, ExportAnswer, ExportQuery, KeyRingState, RotateBody, RotateResult } from "../api/keys.js";
import type { Caller } from "../auth/caller.js";
import { HKDF_LABEL, type Bytes } from "../core/index.js";
import { ServiceError } from "../errors.js";
import { deferTo } from "../http/context.js";
import { route } from "../http/route.js";
import { hashedStekNames, planStekExport, renderStekExport, STEK_FORMATS, stekContext } from "../keyring/export.js";
import { renderJwkExport } from "../keyring/jwk.js";
import type { Services } from "../services.js";

export const keyRoutes = [
  route(
    {
      method: "get",
      path: "/v1/keys",
      summary: "The key ring's public state as this isolate's copy holds it: each key's id, state and times, the revoked keys, and the rotation settings. No key material.",
      description:
        "Answered from the isolate's copy of the ring (read from the ring's read tier, at most about cache_ttl old; fetched_at says when), never by asking the ring's Durable Object on every request.",
      scope: ["keys", "admin"],
      responses: { 200: { description: "the ring", schema: KeyRingState } },
      errors: ["keyring_unavailable"],
    },
    async (c) => {
      const { services } = c.var;
      const now = services.now();
      const ring = await services.keyRing.liveKeys(now, deferTo(c));
      return {
        status: 200,
        body: {
          now,
          fetched_at: ring.fetchedAt,
          keys: ring.keys.map((k) => describeKey(k, now)),
          revoked: ring.revoked,
          settings: { ...ring.settings, cache_ttl: services.config.keyRing.cache_ttl, peak_seal_rate: services.config.keyRing.peak_seal_rate },
        },
      };
    },
  ),
  // The ring's keys as TLS ticket keys for nginx, Envoy, HAProxy, Node or Go
  // (src/keyring/export.ts, docs/proxies.md). Key material: admin or the
  // narrower stek scope only, never cached.
  route(
    {
      method: "get",
      path: "/v1/keys/export",
      summary:
        "The ring's keys as TLS session ticket keys for terminators that do their own ticket crypto, in the order each program needs; or format=jwk: the context's ticket subkeys as a JWK Set.",
      description:
        "Derived from the ring keys by HKDF (the format and the caller's context in the info), so every location exports identical bytes. jwk: each key is the very AES-256-GCM subkey that seals the context's tickets (kid = key id), so its holder can open and make JWE and binary tickets of the context. Never cached.",
      scope: ["admin", "stek"],
      query: ExportQuery,
      responses: { 200: { description: "the keys, and ready-to-write files where the program reads files", schema: ExportAnswer } },
      errors: ["keyring_unavailable"],
    },
    async (c, { query }) => {
      const { format, slots } = query;
      const { services, caller } = c.var;
      const now = services.now();
      c.header("cache-control", "no-store");
      if (format === "jwk") return { status: 200, body: await exportJwk(c.var, now, deferTo(c)) };
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
      return { status: 200, body };
    },
  ),
  route(
    {
      method: "post",
      path: "/v1/keys/rotate",
      summary: 'Rotate now: the published successor encrypts as soon as every location can know it. {"revoke": true} destroys every older key at once.',
      scope: "admin",
      body: RotateBody,
      bodyOptional: true,
      responses: { 200: { description: "the ring after the rotation", schema: RotateResult } },
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
      return {
        status: 200,
        body: { now, activates_at: result.activates_at, revoked: result.revoked, keys: result.ring.keys.map((k) => describeKey(k, now)) },
      };
    },
  ),
];

/**
 * Every live key's ticket subkey for the caller's context. A ring copy with
 * no active key is refreshed once, as for the terminator formats: an export
 * with nothing to encrypt with is never the answer.
 */
async function exportJwk({ services, caller }: { services: Services; caller: Caller }, now: number, defer: (p: Promise<unknown>) => void) {
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
