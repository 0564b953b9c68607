/**
 * The ring's read tier and key vault, over the real objects and KV: cold
 * isolates start from the tier without asking the ring object, the object
 * is asked once however many isolates start together, a revoked key leaves
 * every store and tier, and no key material is ever in the ring object's
 * history-keeping SQLite storage.
 */
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import type { KeyRingObject } from "../../src/keyring/object.js";
import { CACHE_SECONDS, decodePublishedRing, tierKey } from "../../src/keyring/tier.js";
import { T0, TLS12_SESSION, location, testRing, testRingName, testVault, type Location } from "./harness.js";

/** The ring's namespace, counting the calls its object gets, optionally unreachable. */
function countingRing() {
  const state = { calls: 0, down: false };
  const namespace = {
    idFromName: (name: string) => env.KEY_RING.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = env.KEY_RING.get(id);
      const wrap = (method: "getRing" | "rotate" | "maintain") => (...args: unknown[]) => {
        state.calls++;
        if (state.down) return Promise.reject(new Error("unreachable"));
        return (stub[method] as (...a: unknown[]) => unknown)(...args);
      };
      return { getRing: wrap("getRing"), rotate: wrap("rotate"), maintain: wrap("maintain") };
    },
  } as unknown as Env["KEY_RING"];
  return { state, namespace };
}

const seal = (loc: Location, token = "alpha-tickets") => loc.json("POST", "/v1/tickets", { token, body: { session: TLS12_SESSION } });
const open = (loc: Location, ticket: string) => loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket } });
const tierRing = async () => decodePublishedRing((await env.SESSIONS.get(tierKey(testRingName())))!)!;

describe("the ring's read tier", () => {
  it("serves 50 cold isolates' first seal and open without a request to the ring object", async () => {
    const first = location();
    const sealed = await seal(first);
    expect(sealed.status).toBe(201);
    const ring = countingRing();
    const cold = Array.from({ length: 50 }, () => location(T0 + 1, { env: { KEY_RING: ring.namespace } }));
    const results = await Promise.all(cold.map(async (loc) => [await open(loc, sealed.body.ticket), await seal(loc)] as const));
    expect(results.map(([o, s]) => [o.status, s.status])).toEqual(Array(50).fill([200, 201]));
    expect(ring.state.calls).toBe(0);
  });

  it("keeps serving cold isolates while the ring object is down", async () => {
    await seal(location());
    const ring = countingRing();
    ring.state.down = true;
    const loc = location(T0 + 10, { env: { KEY_RING: ring.namespace } });
    const sealed = await seal(loc);
    expect(sealed.status).toBe(201);
    expect((await open(loc, sealed.body.ticket)).status).toBe(200);
  });

  it("asks the object at most once per isolate when 50 start together on an empty tier, then never again", async () => {
    const ring = countingRing();
    const cold = Array.from({ length: 50 }, () => location(T0, { env: { KEY_RING: ring.namespace } }));
    const results = await Promise.all(cold.map((loc) => seal(loc)));
    expect(results.every((r) => r.status === 201)).toBe(true);
    // One per isolate at most (each is its own isolate): bounded by isolates, never by requests.
    expect(ring.state.calls).toBeLessThanOrEqual(50);
    // And once the object has published, the next cold isolates read the tier.
    const before = ring.state.calls;
    await Promise.all(Array.from({ length: 50 }, () => seal(location(T0 + 1, { env: { KEY_RING: ring.namespace } }))));
    expect(ring.state.calls).toBe(before);
  });

  it("answers GET /v1/keys from the copy, not the object", async () => {
    const ring = countingRing();
    const loc = location(T0, { env: { KEY_RING: ring.namespace } });
    for (let i = 0; i < 20; i++) expect((await loc.json("GET", "/v1/keys", { token: "alpha-keys" })).status).toBe(200);
    expect(ring.state.calls).toBeLessThanOrEqual(1);
  });
});

describe("a revoked key", () => {
  it("leaves the vault and KV at once, and every location's cache and copy within their TTLs", async () => {
    const paris = location();
    const sealed = await seal(paris);
    const keyId = sealed.body.key_id as number;
    // A location that read the ring (its cache and copy hold the key).
    const berlin = location(T0 + 1);
    expect((await open(berlin, sealed.body.ticket)).status).toBe(200);
    expect((await tierRing()).keys.map((k) => k.id)).toContain(keyId);

    paris.now = T0 + 2;
    const revoked = await paris.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
    expect(revoked.body.revoked).toEqual([keyId]);
    // The vault and the tier's KV copy: gone at once.
    expect((await testVault().load([keyId])).has(keyId)).toBe(false);
    expect((await tierRing()).keys.map((k) => k.id)).not.toContain(keyId);
    expect((await tierRing()).revoked.map((k) => k.id)).toContain(keyId);
    // Berlin's cache entry and copy, once their time is up (the tier's bound: docs/key-rotation.md).
    berlin.now = T0 + 2 + CACHE_SECONDS + 30;
    await berlin.json("GET", "/v1/keys", { token: "alpha-keys" });
    expect((await open(berlin, sealed.body.ticket)).body.error.code).toBe("key_unknown");
    const keys = (await berlin.json("GET", "/v1/keys", { token: "alpha-keys" })).body;
    expect(keys.keys.map((k: { id: number }) => k.id)).not.toContain(keyId);
    expect(keys.revoked.map((k: { id: number }) => k.id)).toContain(keyId);
  });
});

describe("key material", () => {
  it("is never in the ring object's SQLite storage, and a ring from before the vault moves there", async () => {
    const loc = location();
    await seal(loc);
    const stub = testRing();
    const sqlMaterial = () =>
      runInDurableObject(stub, (_obj: KeyRingObject, state) => state.storage.sql.exec<{ n: number | null }>("SELECT sum(length(wrapped)) AS n FROM keys").one().n ?? 0);
    expect(await sqlMaterial()).toBe(0);
    // A ring written before the vault: material in its SQLite rows, none in the vault.
    const ids = await runInDurableObject(stub, (_obj: KeyRingObject, state) => state.storage.sql.exec<{ id: number }>("SELECT id FROM keys").toArray().map((r) => r.id));
    const wrapped = await testVault().load(ids);
    await runInDurableObject(stub, (_obj: KeyRingObject, state) => {
      for (const [id, w] of wrapped) state.storage.sql.exec("UPDATE keys SET wrapped = ? WHERE id = ?", w, id);
    });
    await testVault().destroy(ids);
    // The next time the object is asked, it moves it to the vault and blanks the rows.
    await stub.getRing(T0 + 1);
    expect(await sqlMaterial()).toBe(0);
    expect([...(await testVault().load(ids)).keys()].sort()).toEqual([...ids].sort());
    expect((await seal(location(T0 + 2))).status).toBe(201);
  });
});
