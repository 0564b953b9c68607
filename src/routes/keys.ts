/**
 * GET /v1/keys: the ring's public state (no key material).
 * POST /v1/keys/rotate: rotate now; {"revoke": true} also destroys every older key.
 */
import { Hono } from "hono";
import { requireScope } from "../http/auth.js";
import { readOptionalJsonObject } from "../http/body.js";
import type { AppEnv } from "../http/context.js";
import { boolean, object, optional } from "../http/schema.js";
import { keyState, type KeyTimes } from "../keyring/schedule.js";

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

export const keys = new Hono<AppEnv>()
  .get("/v1/keys", async (c) => {
    requireScope(c.var.caller, ["keys", "admin"]);
    const { services } = c.var;
    const now = services.now();
    const ring = await services.keyRing.describe(now);
    return c.json({
      now,
      keys: ring.keys.map((k) => describeKey(k, now)),
      settings: { ...ring.settings, cache_ttl: services.config.keyRing.cache_ttl, peak_seal_rate: services.config.keyRing.peak_seal_rate },
    });
  })
  .post("/v1/keys/rotate", async (c) => {
    requireScope(c.var.caller, "admin");
    const body = RotateBody.parse(await readOptionalJsonObject(c.req.raw), "");
    const { services } = c.var;
    const now = services.now();
    const result = await services.ringObject().rotate(now, body.revoke === true);
    // This isolate learns the new ring at once; others within cache_ttl or on first sight of the new key id.
    await services.keyRing.refresh(now);
    return c.json({
      now,
      activates_at: result.activates_at,
      revoked: result.revoked,
      keys: result.ring.keys.map((k) => describeKey(k, now)),
    });
  });
