import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import type { KeyRingObject } from "../../src/keyring/object.js";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import { flakyRing } from "./faults.js";
import { T0, TLS12_SESSION, location, testRing, type Location } from "./harness.js";

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

describe("a changed MASTER_KEY", () => {
  it("answers 503 keyring_unavailable, not a crypto exception", async () => {
    const before = location();
    expect((await before.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } })).status).toBe(201);
    const after = location(T0, { env: { MASTER_KEY: "f".repeat(64) } });
    const res = await after.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } });
    expect([res.status, res.body.error.code]).toEqual([503, "keyring_unavailable"]);
    expect(res.body.error.message).toContain("MASTER_KEY");
  });
});

describe("replacing MASTER_KEY", () => {
  it("makes the ring object start a fresh ring: sealing resumes, old tickets fail cleanly", async () => {
    const NEW_KEY = "e".repeat(64);
    const before = location();
    const old = await before.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } });
    const oldIds = (await before.json("GET", "/v1/keys", { token: "alpha-keys" })).body.keys.map((k: { id: number }) => k.id);
    // The object restarts with the new secret, as it does after `wrangler secret put MASTER_KEY`.
    await runInDurableObject(testRing(), (obj: KeyRingObject) => {
      const o = obj as unknown as { env: Env; kek?: unknown; fingerprint?: unknown };
      o.env = { ...o.env, MASTER_KEY: NEW_KEY };
      o.kek = undefined;
      o.fingerprint = undefined;
    });
    const after = location(T0 + 1, { env: { MASTER_KEY: NEW_KEY } });
    const sealed = await after.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } });
    expect(sealed.status).toBe(201);
    expect(oldIds).not.toContain(sealed.body.key_id);
    const reopened = await after.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket: old.body.ticket } });
    expect([reopened.status, reopened.body.error.code]).toEqual([422, "key_unknown"]);
    const ids = await runInDurableObject(testRing(), (_o: KeyRingObject, state) =>
      state.storage.sql.exec<{ id: number }>("SELECT id FROM keys").toArray().map((r) => r.id),
    );
    for (const id of oldIds) expect(ids).not.toContain(id);
  });
});
