import { env } from "cloudflare:workers";
import { abortAllDurableObjects } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import { T0, TLS12_SESSION, location, testRing, type Location } from "./harness.js";

/** The ring's namespace, with a switch that makes its object unreachable. */
function flakyRing() {
  const state = { broken: false };
  const namespace = {
    idFromName: (name: string) => env.KEY_RING.idFromName(name),
    get: (id: DurableObjectId) =>
      state.broken
        ? { getRing: () => Promise.reject(new Error("unreachable")), rotate: () => Promise.reject(new Error("unreachable")) }
        : env.KEY_RING.get(id),
  } as unknown as Env["KEY_RING"];
  return { state, namespace };
}

const seal = (loc: Location) => loc.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } });
const open = (loc: Location, ticket: string) => loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket } });

describe("key ring faults", () => {
  it("keeps sealing from the cached ring while the active key's window lasts, then 503", async () => {
    const flaky = flakyRing();
    const loc = location(T0, { env: { KEY_RING: flaky.namespace } });
    const keys = (await loc.json("GET", "/v1/keys", { token: "alpha-keys" })).body.keys;
    const [first, second] = keys;
    const early = await seal(loc);
    flaky.state.broken = true;

    // Past cache_ttl: the background refresh fails, the cached ring still serves.
    loc.now = T0 + 120;
    const sealed = await seal(loc);
    expect([sealed.status, sealed.body.key_id]).toEqual([201, first.id]);
    expect((await open(loc, early.body.ticket)).status).toBe(200);

    // The successor was published in advance: the switch happens on time without the object.
    loc.now = first.deactivates_at;
    const switched = await seal(loc);
    expect([switched.status, switched.body.key_id]).toEqual([201, second.id]);
    expect((await open(loc, early.body.ticket)).status).toBe(200);

    // Once no key this isolate knows may encrypt, it refuses rather than seal with an ended key.
    loc.now = second.deactivates_at;
    const refused = await seal(loc);
    expect([refused.status, refused.body.error.code]).toEqual([503, "keyring_unavailable"]);
    expect(JSON.stringify(refused.body)).not.toContain("unreachable");
    // Opening continues for keys it knows that have not expired.
    expect((await open(loc, switched.body.ticket)).status).toBe(200);

    flaky.state.broken = false;
    expect((await seal(loc)).status).toBe(201);
  });

  it("answers 503 keyring_unavailable when a cold isolate cannot reach the ring", async () => {
    const flaky = flakyRing();
    flaky.state.broken = true;
    const loc = location(T0, { env: { KEY_RING: flaky.namespace } });
    const res = await seal(loc);
    expect([res.status, res.body.error.code]).toEqual([503, "keyring_unavailable"]);
  });

  it("keeps a valid ring when the object is reset in the middle of rotations", async () => {
    const stub = testRing();
    await stub.getRing(T0);
    const racing = Array.from({ length: 10 }, (_, i) => stub.rotate(T0 + 600 + i, i === 5).catch((e: unknown) => e));
    await abortAllDurableObjects();
    await Promise.all(racing);
    const fresh = testRing();
    for (const now of [T0 + 600, T0 + 610, T0 + 5000]) {
      const { keys } = await fresh.getRing(now);
      expect(keys.filter((k) => k.activates_at <= now && now < k.deactivates_at)).toHaveLength(1);
      // Never destroyed early: every key still stored is before its expiry.
      for (const k of keys) expect(k.expires_at).toBeGreaterThan(now);
      const sorted = [...keys].sort((a, b) => a.activates_at - b.activates_at);
      for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.activates_at).toBeGreaterThanOrEqual(sorted[i - 1]!.deactivates_at);
    }
  });
});
