import { env } from "cloudflare:workers";
import { createScheduledController, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import worker from "../../src/index.js";
import type { KeyRingObject } from "../../src/keyring/object.js";
import { RING_OBJECT_NAME } from "../../src/services.js";
import { decodePublishedRing, tierKey } from "../../src/keyring/tier.js";
import { T0, TLS12_SESSION, location, ringAlarmAt, testRing as ring, testRingName, testVault, type Location } from "./harness.js";


async function keysOf(loc: Location) {
  const res = await loc.json("GET", "/v1/keys", { token: "alpha-keys" });
  expect(res.status).toBe(200);
  return res.body as { keys: { id: number; state: string; activates_at: number; deactivates_at: number; expires_at: number }[] };
}

/** Rows in the ring object's own SQLite storage: what "destroyed" must be checked against. */
function storedKeyIds(): Promise<number[]> {
  return runInDurableObject(ring(), (_obj: KeyRingObject, state) =>
    state.storage.sql.exec<{ id: number }>("SELECT id FROM keys").toArray().map((r) => r.id),
  );
}

/** Bytes of key material in the ring object's SQLite storage (its history would keep them): always 0. */
function storedMaterialBytes(): Promise<number> {
  return runInDurableObject(ring(), (_obj: KeyRingObject, state) => state.storage.sql.exec<{ n: number | null }>("SELECT sum(length(wrapped)) AS n FROM keys").one().n ?? 0);
}

const seal = (loc: Location) => loc.json("POST", "/v1/tickets", { token: "alpha-tickets", body: { session: TLS12_SESSION } });
const open = (loc: Location, ticket: string) => loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket } });

describe("the key ring", () => {
  it("publishes one active key and its pending successor, without key material", async () => {
    const loc = location();
    const { keys } = await keysOf(loc);
    expect(keys.map((k) => k.state)).toEqual(["active", "pending"]);
    const [active, pending] = keys;
    expect(pending!.activates_at).toBe(active!.deactivates_at);
    expect(active!.deactivates_at - active!.activates_at).toBe(3600);
    // Published at least prepublish_lead before it activates.
    expect(pending!.activates_at - T0).toBeGreaterThanOrEqual(600);
    // 7200 s: the longest ticket lifetime of any context.
    expect(active!.expires_at).toBe(active!.deactivates_at + 7200);
    const raw = JSON.stringify(await loc.json("GET", "/v1/keys", { token: "alpha-keys" }));
    expect(raw).not.toMatch(/wrapped|material/);
  });

  it("resumes across a rotation in two locations whose ring copies are stale", async () => {
    const paris = location();
    const frankfurt = location();
    const { keys } = await keysOf(paris);
    await keysOf(frankfurt);
    const [first, second] = keys;
    // Frankfurt seals one second before the switch...
    frankfurt.now = first!.deactivates_at - 1;
    const before = await seal(frankfurt);
    expect(before.body.key_id).toBe(first!.id);
    // ...Paris, whose copy of the ring is far older than 60 s, opens it after.
    paris.now = first!.deactivates_at + 1;
    const opened = await open(paris, before.body.ticket);
    expect(opened.status).toBe(200);
    expect(opened.body.renew).toBe(true);
    // And seals with the successor it already knew, which Frankfurt opens.
    const after = await seal(paris);
    expect(after.body.key_id).toBe(second!.id);
    frankfurt.now = paris.now;
    const back = await open(frankfurt, after.body.ticket);
    expect([back.status, back.body.renew]).toEqual([200, false]);
  });

  it("never seals with a key whose window has ended, even from a stale copy", async () => {
    const loc = location();
    const { keys } = await keysOf(loc);
    // Far past both known keys' windows, with the copy never refreshed.
    loc.now = keys[1]!.deactivates_at + 10;
    const sealed = await seal(loc);
    expect(sealed.status).toBe(201);
    expect(keys.map((k) => k.id)).not.toContain(sealed.body.key_id);
  });

  it("destroys a key when its window ends: its tickets fail and its material is gone from every store", async () => {
    const loc = location();
    const first = (await keysOf(loc)).keys[0]!;
    const { body } = await seal(loc);
    expect(await storedKeyIds()).toContain(first.id);
    expect((await testVault().load([first.id])).has(first.id)).toBe(true);
    // The ring's own SQLite storage never holds material (it keeps 30 days of history).
    expect(await storedMaterialBytes()).toBe(0);
    loc.now = first.expires_at;
    // Refused by its time alone, before the object has even noticed.
    const res = await open(loc, body.ticket);
    expect([res.status, res.body.error.code]).toEqual([422, "key_unknown"]);
    // The object's alarm at the key event destroys it: rows, vault, and the read tier's copy.
    await ringAlarmAt(first.expires_at);
    expect(await storedKeyIds()).not.toContain(first.id);
    expect((await testVault().load([first.id])).has(first.id)).toBe(false);
    const tier = decodePublishedRing((await env.SESSIONS.get(tierKey(testRingName())))!);
    expect(tier!.keys.map((k) => k.id)).not.toContain(first.id);
    const after = await keysOf(loc);
    expect(after.keys.map((k) => k.id)).not.toContain(first.id);
  });

  it("rotates on request: the old key retires and still opens its tickets", async () => {
    const loc = location();
    const [first, second] = (await keysOf(loc)).keys;
    const { body } = await seal(loc);
    // The successor was published at T0: it may take over once prepublish_lead has passed.
    loc.now = T0 + 600;
    const rotated = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all" });
    expect(rotated.status).toBe(200);
    expect(rotated.body.activates_at).toBe(T0 + 600);
    const states = Object.fromEntries((rotated.body.keys as { id: number; state: string }[]).map((k) => [k.id, k.state]));
    expect(states[first!.id]).toBe("retiring");
    expect(states[second!.id]).toBe("active");
    const opened = await open(loc, body.ticket);
    expect([opened.status, opened.body.renew]).toEqual([200, true]);
    expect((await seal(loc)).body.key_id).toBe(second!.id);
  });

  it("waits for a too-young successor to be known fleet-wide before it encrypts", async () => {
    const loc = location();
    const [first, second] = (await keysOf(loc)).keys;
    loc.now = T0 + 10;
    const rotated = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all" });
    expect(rotated.body.activates_at).toBe(T0 + 600);
    expect((await seal(loc)).body.key_id).toBe(first!.id);
    loc.now = T0 + 600;
    expect((await seal(loc)).body.key_id).toBe(second!.id);
  });

  it("revokes: every older key is destroyed at once", async () => {
    const loc = location();
    const [first] = (await keysOf(loc)).keys;
    const { body } = await seal(loc);
    loc.now = T0 + 5;
    const rotated = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-all", body: { revoke: true } });
    expect(rotated.status).toBe(200);
    expect(rotated.body.revoked).toEqual([first!.id]);
    expect(await storedKeyIds()).not.toContain(first!.id);
    const res = await open(loc, body.ticket);
    expect([res.status, res.body.error.code]).toEqual([422, "key_unknown"]);
    // A location with an older copy stops decrypting once its copy is refreshed (cache_ttl).
    const other = location(T0 + 5 + 30);
    expect((await open(other, body.ticket)).body.error.code).toBe("key_unknown");
  });

  it("rotates on its alarm", async () => {
    const loc = location();
    const [first, second] = (await keysOf(loc)).keys;
    const stub = ring();
    await runInDurableObject(stub, (obj: KeyRingObject) => {
      obj.clock = () => first!.deactivates_at * 1000;
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    // The alarm published the new ring: a location reads it from the tier.
    loc.now = first!.deactivates_at;
    const { keys } = await keysOf(loc);
    expect(keys.find((k) => k.state === "active")!.id).toBe(second!.id);
    expect(keys.filter((k) => k.state === "pending")).toHaveLength(1);
    // The alarm is set for the next key event.
    const alarm = await runInDurableObject(stub, (_obj: KeyRingObject, state) => state.storage.getAlarm());
    expect(alarm).toBe(second!.deactivates_at * 1000);
  });

  it("rotates from the Cron backstop", async () => {
    // The cron handler maintains the fleet's one ring object.
    const loc = location(T0, { ringName: RING_OBJECT_NAME });
    const [first] = (await keysOf(loc)).keys;
    const after = first!.expires_at + 1;
    await worker.scheduled(createScheduledController({ scheduledTime: after * 1000, cron: "*/5 * * * *" }), env as never);
    const ids = await runInDurableObject(env.KEY_RING.get(env.KEY_RING.idFromName(RING_OBJECT_NAME)), (_o: KeyRingObject, state) =>
      state.storage.sql.exec<{ id: number }>("SELECT id FROM keys").toArray().map((r) => r.id),
    );
    expect(ids).not.toContain(first!.id);
    loc.now = after;
    const { keys } = await keysOf(loc);
    expect(keys.filter((k) => k.state === "active")).toHaveLength(1);
  });

  it("never has two active keys, however many rotations race", async () => {
    const stub = ring();
    await stub.getRing(T0);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => stub.rotate(T0 + 600 + (i % 3), i % 5 === 0)));
    for (const now of [T0 + 600, T0 + 601, T0 + 602, T0 + 3600, T0 + 7200]) {
      const { keys } = await stub.getRing(now);
      const active = keys.filter((k) => k.activates_at <= now && now < k.deactivates_at);
      expect(active).toHaveLength(1);
      const windows = [...keys].sort((a, b) => a.activates_at - b.activates_at);
      for (let i = 1; i < windows.length; i++) expect(windows[i]!.activates_at).toBeGreaterThanOrEqual(windows[i - 1]!.deactivates_at);
    }
    expect(results).toHaveLength(20);
  });
});

describe("a forced rotation seen late", () => {
  it("keeps tickets that a location with an older copy of the ring sealed under the retired key", async () => {
    const paris = location();
    const berlin = location();
    const [first] = (await keysOf(paris)).keys;
    await keysOf(berlin);
    // Paris rotates; Berlin's copy predates it (its refresh runs in the background, after this seal), so it seals with the old key.
    paris.now = T0 + 600;
    expect((await paris.json("POST", "/v1/keys/rotate", { token: "alpha-all" })).status).toBe(200);
    berlin.now = T0 + 610;
    const late = await seal(berlin);
    expect(late.body.key_id).toBe(first!.id);
    // The ticket opens until its own expiry, anywhere.
    const lastSecond = location(late.body.expires_at - 1);
    const res = await open(lastSecond, late.body.ticket);
    expect([res.status, res.body.renew]).toEqual([200, true]);
    const after = location(late.body.expires_at);
    expect((await open(after, late.body.ticket)).body.error.code).toBe("ticket_expired");
  });
});
