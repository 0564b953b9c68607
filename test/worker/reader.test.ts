import { describe, expect, it } from "vitest";
import { openTicket, sealTicket, TicketKeyCache } from "../../src/core/index.js";
import { deriveKek, wrapKey } from "../../src/keyring/material.js";
import type { PublishedRing } from "../../src/keyring/object.js";
import { KeyRingReader } from "../../src/keyring/reader.js";

const MASTER = new Uint8Array(32).fill(1);
const SETTINGS = { rotation_period: 3600, prepublish_lead: 600, max_ticket_lifetime: 7200 };
const TIMES = { published_at: 0, activates_at: 0, deactivates_at: 3600, expires_at: 10_800 };

async function ringWith(id: number, material: Uint8Array<ArrayBuffer>): Promise<PublishedRing> {
  return { keys: [{ id, ...TIMES, wrapped: await wrapKey(await deriveKek(MASTER), id, material) }], revoked: [], settings: SETTINGS, now: 0 };
}

async function sealUnder(id: number, material: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const keys = new TicketKeyCache();
  keys.add(id, material);
  const session = { version: "TLSv1.2" as const, cipher_suite: 49195, master_secret: new Uint8Array(48), extended_master_secret: false, encrypt_then_mac: false, created_at: 1, timeout: 60 };
  return sealTicket({ session, sessionId: new Uint8Array([1]), withLookupId: false, issuedAt: 1, lifetime: 60, singleUse: false, context: "c", keyId: id, key: await keys.subkey(id, "c")! });
}

describe("KeyRingReader", () => {
  it("replaces a key whose id comes back with other material", async () => {
    const first = new Uint8Array(32).fill(7);
    const second = new Uint8Array(32).fill(8);
    let ring = await ringWith(42, first);
    const reader = new KeyRingReader(async () => ring, deriveKek(MASTER), 30);
    await reader.refresh(10);
    const open = async (t: Uint8Array<ArrayBuffer>) =>
      openTicket(t, { context: "c", now: 10, keys: reader.openingKeys(await reader.decryptingKey(42, 10)) });
    await expect(open(await sealUnder(42, first))).resolves.toMatchObject({ keyId: 42 });

    ring = await ringWith(42, second);
    await reader.refresh(11);
    await expect(open(await sealUnder(42, second))).resolves.toMatchObject({ keyId: 42 });
    await expect(open(await sealUnder(42, first))).rejects.toMatchObject({ code: "ticket_invalid" });
  });
});
