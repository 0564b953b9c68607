/**
 * The STEK export's pure parts (src/keyring/export.ts): which keys each
 * program gets, in which order, and how the files are rendered.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  encodeBase64,
  hashedStekNames,
  MAX_STEK_SLOTS,
  planStekExport,
  refreshAfter,
  renderStekExport,
  STEK_FORMAT_NAMES,
  STEK_FORMATS,
  type LiveKey,
  type StekFormat,
} from "../../src/keyring/export.js";
import { keyState, type KeyTimes } from "../../src/keyring/schedule.js";

const P = 3600;
const L = 7200;
const T = 1_000_000;

/** A ring as the schedule makes it: key i encrypts from T + i*P for P seconds and decrypts L longer. */
function ring(first: number, count: number): KeyTimes[] {
  return Array.from({ length: count }, (_, i) => {
    const at = T + (first + i) * P;
    return { id: 100 + first + i, published_at: at - P, activates_at: at, deactivates_at: at + P, expires_at: at + P + L };
  });
}

function live(keys: KeyTimes[], now: number): LiveKey[] {
  return keys.map((k) => ({ ...k, state: keyState(k, now) })).filter((k) => k.state !== "destroyed");
}

// At T + 2P + 1: key 100 and 101 retiring, 102 active, 103 pending; -1 expired.
const NOW = T + 2 * P + 1;
const KEYS = live(ring(-1, 5), NOW);

describe("planStekExport", () => {
  it("the ring at NOW is what the tests below assume", () => {
    expect(KEYS.map((k) => [k.id, k.state])).toEqual([
      [100, "retiring"],
      [101, "retiring"],
      [102, "active"],
      [103, "pending"],
    ]);
  });

  it("nginx: the active key first (it encrypts), then the pending key, then retiring keys newest first", () => {
    const plan = planStekExport(KEYS, "nginx80")!;
    expect(plan.slots).toBe(4);
    expect(plan.keys.map((k) => [k.id, k.role])).toEqual([
      [102, "encrypt"],
      [103, "decrypt"],
      [101, "decrypt"],
      [100, "decrypt"],
    ]);
    expect(plan.positions).toEqual([102, 103, 101, 100]);
    expect(plan.dropped).toEqual([]);
  });

  it("nginx with fewer slots drops the oldest retiring keys first, never the pending one", () => {
    const plan = planStekExport(KEYS, "nginx48", 3)!;
    expect(plan.positions).toEqual([102, 103, 101]);
    expect(plan.dropped).toEqual([100]);
    expect(planStekExport(KEYS, "nginx80", 1)!.positions).toEqual([102]);
  });

  it("nginx pads a short ring with the active key, which keeps the first position", () => {
    const fresh = live(ring(0, 2), T);
    const plan = planStekExport(fresh, "nginx80", 4)!;
    expect(plan.positions).toEqual([100, 101, 100, 100]);
    expect(plan.keys.map((k) => k.id)).toEqual([100, 101]);
  });

  it("HAProxy: the active key is the penultimate line, the pending key the last, retiring keys before them oldest first", () => {
    const plan = planStekExport(KEYS, "haproxy")!;
    expect(plan.slots).toBe(3);
    expect(plan.positions).toEqual([101, 102, 103]);
    expect(plan.dropped).toEqual([100]);
    expect(planStekExport(KEYS, "haproxy", 4)!.positions).toEqual([100, 101, 102, 103]);
    expect(planStekExport(KEYS, "haproxy", 2)!.positions).toEqual([102, 103]);
    expect(planStekExport(KEYS, "haproxy", 1)!.positions).toEqual([102]);
    const fresh = live(ring(0, 2), T);
    expect(planStekExport(fresh, "haproxy", 3)!.positions).toEqual([100, 100, 101]);
  });

  it("Node: exactly the active key", () => {
    const plan = planStekExport(KEYS, "node48")!;
    expect(plan.positions).toEqual([102]);
    expect(plan.keys.map((k) => [k.id, k.role])).toEqual([[102, "encrypt"]]);
    expect(plan.dropped).toEqual([100, 101, 103]);
    expect(planStekExport(KEYS, "node48", 5)!.slots).toBe(1);
  });

  it("nothing to export without an active key", () => {
    const pendingOnly = live(ring(5, 1), NOW);
    expect(pendingOnly[0]!.state).toBe("pending");
    for (const f of STEK_FORMAT_NAMES) expect(planStekExport(pendingOnly, f)).toBeUndefined();
  });

  it("for any ring and slot count, the encrypting key sits where its program encrypts from and every live key is exported or dropped", () => {
    const arbRing = fc.record({
      retiring: fc.integer({ min: 0, max: 6 }),
      pending: fc.integer({ min: 0, max: 2 }),
      slots: fc.integer({ min: 1, max: MAX_STEK_SLOTS }),
      format: fc.constantFrom(...STEK_FORMAT_NAMES),
    });
    fc.assert(
      fc.property(arbRing, ({ retiring, pending, slots, format }) => {
        const now = T + 10 * P + 5;
        const keys: LiveKey[] = [];
        for (let i = 0; i < retiring; i++) {
          const at = now - (i + 1) * 100 - P;
          keys.push({ id: 10 + i, published_at: at - P, activates_at: at, deactivates_at: at + 50, expires_at: now + 1000, state: "retiring" });
        }
        keys.push({ id: 1, published_at: now - 10, activates_at: now - 5, deactivates_at: now + P, expires_at: now + P + L, state: "active" });
        for (let i = 0; i < pending; i++) {
          const at = now + P + i * P;
          keys.push({ id: 50 + i, published_at: now - 5, activates_at: at, deactivates_at: at + P, expires_at: at + P + L, state: "pending" });
        }
        const plan = planStekExport(keys, format as StekFormat, slots)!;
        const n = plan.slots;
        expect(n).toBe(format === "node48" ? 1 : slots);
        expect(plan.positions).toHaveLength(n);
        const encryptAt = STEK_FORMATS[format as StekFormat].encrypts === "penultimate" && n >= 2 ? n - 2 : 0;
        expect(plan.positions[encryptAt]).toBe(1);
        expect(plan.keys.filter((k) => k.role === "encrypt").map((k) => k.id)).toEqual([1]);
        // Each exported key appears once in the list and at least once in the files.
        const ids = plan.keys.map((k) => k.id);
        expect(new Set(ids).size).toBe(ids.length);
        for (const id of ids) expect(plan.positions).toContain(id);
        for (const id of plan.positions) expect(ids).toContain(id);
        expect([...ids, ...plan.dropped].sort()).toEqual(keys.map((k) => k.id).sort());
        // A pending key is exported whenever a slot is free for it (not for Node: one key only).
        if (pending > 0 && n >= 2) expect(ids).toContain(50);
      }),
      { numRuns: 300 },
    );
  });
});

describe("refreshAfter", () => {
  it("polls again at the next key event, and at least every cache_ttl", () => {
    const keys = ring(0, 2);
    expect(refreshAfter(keys, T + 10, 30)).toEqual({ next_change_at: T + P, refresh_after: 30 });
    expect(refreshAfter(keys, T + P - 7, 30)).toEqual({ next_change_at: T + P, refresh_after: 7 });
    expect(refreshAfter([], T, 30)).toEqual({ next_change_at: null, refresh_after: 30 });
  });
});

describe("renderStekExport", () => {
  const bytesFor = (format: StekFormat, ids: number[]) =>
    new Map(ids.map((id) => [id, Uint8Array.from({ length: STEK_FORMATS[format].keyBytes }, (_, i) => (id + i) & 255)]));

  it("nginx: one binary file per position, standard base64; keys list each key once with its name", () => {
    const plan = planStekExport(live(ring(0, 2), T), "nginx80", 4)!;
    const bytes = bytesFor("nginx80", [100, 101]);
    const out = renderStekExport(plan, bytes, { context: "alpha", now: T, cacheTtl: 30, live: ring(0, 2) });
    expect(out.files!.map((f) => [f.name, f.encoding])).toEqual([
      ["stek.0.key", "base64"],
      ["stek.1.key", "base64"],
      ["stek.2.key", "base64"],
      ["stek.3.key", "base64"],
    ]);
    expect(out.files![0]!.content).toBe(btoa(String.fromCharCode(...bytes.get(100)!)));
    expect(out.files![2]!.content).toBe(out.files![0]!.content);
    expect(out.keys.map((k) => [k.id, k.role, k.name])).toEqual([
      [100, "encrypt", [...bytes.get(100)!.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")],
      [101, "decrypt", [...bytes.get(101)!.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")],
    ]);
    expect(out.key_bytes).toBe(80);
    expect(out.refresh_after).toBe(30);
    expect(out.revision).toBe("nginx80.4.64e-65d-64e-64e");
  });

  it("HAProxy: one file of base64 lines, the encrypting key penultimate", () => {
    const keys = ring(0, 2);
    const plan = planStekExport(live(keys, T + P + 1), "haproxy", 3)!;
    const bytes = bytesFor("haproxy", [100, 101]);
    const out = renderStekExport(plan, bytes, { context: "alpha", now: T + P + 1, cacheTtl: 30, live: keys });
    // 101 is active, no pending key in this two-key ring: [100, 101, 101].
    const lines = out.files![0]!.content.split("\n");
    expect(lines).toEqual([encodeBase64(bytes.get(100)!), encodeBase64(bytes.get(101)!), encodeBase64(bytes.get(101)!), ""]);
    expect(out.files![0]!.name).toBe("tls-ticket-keys");
    expect(out.files![0]!.encoding).toBe("utf8");
  });

  it("Node: no files, the one key in the list", () => {
    const plan = planStekExport(live(ring(0, 2), T), "node48")!;
    const out = renderStekExport(plan, bytesFor("node48", [100]), { context: "alpha", now: T, cacheTtl: 30, live: ring(0, 2) });
    expect(out.files).toBeUndefined();
    expect(out.keys).toHaveLength(1);
    expect(out.key_bytes).toBe(48);
  });

  it("Go: no files, the active key first, each key named as crypto/tls names it (SHA-512's first 16 bytes)", async () => {
    const plan = planStekExport(KEYS, "go")!;
    expect(plan.positions).toEqual([102, 103, 101, 100]);
    const bytes = bytesFor("go", [100, 101, 102, 103]);
    const hashedNames = await hashedStekNames("go", bytes);
    const out = renderStekExport(plan, bytes, { context: "alpha", now: NOW, cacheTtl: 30, live: KEYS, hashedNames });
    expect(out.files).toBeUndefined();
    expect(out.key_bytes).toBe(32);
    const sha512 = new Uint8Array(await crypto.subtle.digest("SHA-512", bytes.get(102)!));
    expect(out.keys[0]!.name).toBe([...sha512.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join(""));
    // Without the hashed names there is no honest name to give.
    expect(() => renderStekExport(plan, bytes, { context: "alpha", now: NOW, cacheTtl: 30, live: KEYS })).toThrow(/hashed key name/);
    expect((await hashedStekNames("nginx80", bytesFor("nginx80", [100]))).size).toBe(0);
  });

  it("refuses bytes of the wrong length", () => {
    const plan = planStekExport(live(ring(0, 2), T), "nginx80")!;
    expect(() => renderStekExport(plan, bytesFor("nginx48", [100, 101]), { context: "a", now: T, cacheTtl: 30, live: [] })).toThrow(/80-byte/);
  });

  it("encodeBase64 is standard padded base64", () => {
    for (const n of [0, 1, 2, 3, 47, 48, 80]) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 250) & 255);
      expect(encodeBase64(b)).toBe(btoa(String.fromCharCode(...b)));
    }
  });
});
