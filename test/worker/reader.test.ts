/**
 * The isolate's ring reader over a fake tier and a fake ring object: where
 * it reads the ring from, how often it asks the object, and what a ticket
 * naming an unknown key id costs.
 */
import { describe, expect, it } from "vitest";
import { openTicket, sealTicket, TicketKeyCache } from "../../src/core/index.js";
import { deriveKek, kekFingerprint, wrapKey } from "../../src/keyring/material.js";
import type { PublishedRing } from "../../src/keyring/tier.js";
import { KeyRingReader, UNKNOWN_ID_INTERVAL } from "../../src/keyring/reader.js";

const MASTER = new Uint8Array(32).fill(1);
const SETTINGS = { rotation_period: 3600, prepublish_lead: 600, max_ticket_lifetime: 7200 };
const TIMES = { published_at: 0, activates_at: 0, deactivates_at: 3600, expires_at: 10_800 };

async function ringWith(id: number, material: Uint8Array<ArrayBuffer>, extra: Partial<PublishedRing> = {}): Promise<PublishedRing> {
  return {
    revision: 1,
    kek: await kekFingerprint(MASTER),
    keys: [{ id, ...TIMES, wrapped: await wrapKey(await deriveKek(MASTER), id, material) }],
    revoked: [],
    settings: SETTINGS,
    now: 0,
    ...extra,
  };
}

async function sealUnder(id: number, material: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const keys = new TicketKeyCache();
  keys.add(id, material);
  const session = { version: "TLSv1.2" as const, cipher_suite: 49195, master_secret: new Uint8Array(48), extended_master_secret: false, encrypt_then_mac: false, created_at: 1, timeout: 60 };
  return sealTicket({ session, sessionId: new Uint8Array([1]), withLookupId: false, issuedAt: 1, lifetime: 60, singleUse: false, context: "c", keyId: id, key: await keys.subkey(id, "c")! });
}

/** A reader over a tier and an object that count their calls; `tier` and `object` can be swapped or made to fail. */
function readerOver(start: { tier?: PublishedRing; object?: PublishedRing }) {
  const state = { tier: start.tier, object: start.object, objectFails: false, tierReads: 0, objectCalls: 0, remembered: 0 };
  const reader = new KeyRingReader(
    {
      tier: {
        read: async () => (state.tierReads++, state.tier),
        remember: async () => void state.remembered++,
      },
      object: async () => {
        state.objectCalls++;
        if (state.objectFails || !state.object) throw new Error("unreachable");
        return state.object;
      },
    },
    deriveKek(MASTER),
    kekFingerprint(MASTER),
    30,
    () => 0.5,
  );
  return { reader, state };
}

describe("KeyRingReader", () => {
  it("replaces a key whose id comes back with other material", async () => {
    const first = new Uint8Array(32).fill(7);
    const second = new Uint8Array(32).fill(8);
    const { reader, state } = readerOver({ tier: await ringWith(42, first) });
    await reader.refresh(10);
    const open = async (t: Uint8Array<ArrayBuffer>) => openTicket(t, { context: "c", now: 10, keys: reader.openingKeys(await reader.decryptingKey(42, 10)) });
    await expect(open(await sealUnder(42, first))).resolves.toMatchObject({ keyId: 42 });

    state.tier = await ringWith(42, second, { revision: 2 });
    await reader.refresh(11);
    await expect(open(await sealUnder(42, second))).resolves.toMatchObject({ keyId: 42 });
    await expect(open(await sealUnder(42, first))).rejects.toMatchObject({ code: "ticket_invalid" });
  });

  it("starts cold from the tier, never asking the object", async () => {
    const { reader, state } = readerOver({ tier: await ringWith(5, new Uint8Array(32).fill(5)), object: await ringWith(5, new Uint8Array(32).fill(5)) });
    const keys = await Promise.all(Array.from({ length: 20 }, () => reader.sealingKey("c", 100)));
    expect(keys.every((k) => k.times.id === 5)).toBe(true);
    expect([state.tierReads, state.objectCalls]).toEqual([1, 0]);
  });

  it("asks the object once (single flight) when the tier holds no usable ring, and keeps the answer in the location's cache", async () => {
    const ring = await ringWith(5, new Uint8Array(32).fill(5));
    for (const tier of [undefined, { ...ring, kek: "another MASTER_KEY" }, { ...ring, keys: [{ ...ring.keys[0]!, deactivates_at: 50 }] }]) {
      const { reader, state } = readerOver({ tier, object: ring });
      await Promise.all(Array.from({ length: 20 }, () => reader.sealingKey("c", 100)));
      expect([state.objectCalls, state.remembered]).toEqual([1, 1]);
    }
  });

  it("backs off exponentially, with jitter, while the object fails", async () => {
    const { reader, state } = readerOver({});
    state.objectFails = true;
    const attempts: number[] = [];
    for (let now = 0; now < 200; now++) {
      const before = state.objectCalls;
      await reader.sealingKey("c", now).catch(() => undefined);
      await reader.sealingKey("c", now).catch(() => undefined);
      if (state.objectCalls > before) attempts.push(now);
    }
    // 1, 2, 4, ... 60 s apart (jitter fixed at its middle here), never more than once a second.
    expect(attempts.slice(0, 7)).toEqual([0, 1, 3, 7, 15, 31, 63]);
    expect(attempts.length).toBeLessThanOrEqual(9);
    state.objectFails = false;
    state.object = await ringWith(5, new Uint8Array(32).fill(5));
    await expect(reader.sealingKey("c", 400)).resolves.toMatchObject({ times: { id: 5 } });
  });

  it("refreshes in the background about every cache_ttl, from the tier", async () => {
    const { reader, state } = readerOver({ tier: await ringWith(5, new Uint8Array(32).fill(5)) });
    for (let now = 0; now <= 300; now++) await reader.sealingKey("c", now);
    // 300 s at a (jittered) 30 s: about 10 tier reads, no object call.
    expect(state.tierReads).toBeGreaterThanOrEqual(9);
    expect(state.tierReads).toBeLessThanOrEqual(12);
    expect(state.objectCalls).toBe(0);
  });

  it("costs nothing for made-up key ids while the copy cannot lack a live key, then a tier read per interval", async () => {
    const { reader, state } = readerOver({ tier: await ringWith(5, new Uint8Array(32).fill(5)) });
    await reader.refresh(0);
    // A fresh copy: every key that may encrypt now is in it (published prepublish_lead ahead).
    for (let id = 100; id < 1100; id++) expect(await reader.decryptingKey(id, 10)).toBeUndefined();
    expect([state.tierReads, state.objectCalls]).toEqual([1, 0]);
    // A copy that could lack one (not refreshed for longer than prepublish_lead minus the tier's lag):
    // at most one tier read per UNKNOWN_ID_INTERVAL, never the object.
    const { reader: stale, state: s2 } = readerOver({ tier: await ringWith(5, new Uint8Array(32).fill(5)) });
    await stale.refresh(0);
    for (let now = 500; now < 500 + 2 * UNKNOWN_ID_INTERVAL; now++) {
      for (let i = 0; i < 10; i++) await stale.decryptingKey(0xabc000 + i, now, () => {});
    }
    expect(s2.objectCalls).toBe(0);
    expect(s2.tierReads).toBeLessThanOrEqual(1 + 2 + Math.ceil((2 * UNKNOWN_ID_INTERVAL) / 24));
  });

  it("never looks up a revoked or destroyed id", async () => {
    const tier = await ringWith(5, new Uint8Array(32).fill(5), { revoked: [{ id: 9, expires_at: 10_000 }] });
    const { reader, state } = readerOver({ tier: { ...tier, keys: [...tier.keys, (await ringWith(6, new Uint8Array(32).fill(6))).keys[0]!] } });
    await reader.refresh(0);
    state.tier = { ...tier, revision: 2 };
    await reader.refresh(1); // key 6 left the ring: destroyed
    const reads = state.tierReads;
    for (let now = 700; now < 760; now++) {
      expect(await reader.decryptingKey(9, now)).toBeUndefined();
      expect(await reader.decryptingKey(6, now)).toBeUndefined();
    }
    // Background refreshes only (cache_ttl), no lookups for the two ids.
    expect(state.tierReads - reads).toBeLessThanOrEqual(3);
    expect(reader.wasRevoked(9, 700)).toBe(true);
    expect(reader.wasRevoked(9, 10_000)).toBe(false);
  });

  it("keeps a newer copy it got from the object over an older tier copy", async () => {
    const ring = await ringWith(5, new Uint8Array(32).fill(5));
    const { reader, state } = readerOver({ tier: { ...ring, revision: 3 } });
    await reader.accept({ ...ring, revision: 4, keys: [...ring.keys, (await ringWith(6, new Uint8Array(32).fill(6), { }))!.keys[0]!] }, 0);
    await reader.refresh(40);
    expect(await reader.decryptingKey(6, 40)).toBeDefined();
    expect(state.objectCalls).toBe(0);
  });
});
