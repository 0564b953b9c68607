/**
 * The store's logic without the platform: the LRU, the write gate, id
 * generation, peers, the record format, the KV adapter's TTL floor, and the
 * ContextStore over the in-memory storage adapter.
 */
import { describe, expect, it } from "vitest";
import { decodeHex, encodeHex, parseSession, type Session } from "../../src/core/index.js";
import { parseConfig, type ContextSettings } from "../../src/config.js";
import { ServiceError } from "../../src/errors.js";
import { ExternalCache, storageKey } from "../../src/store/external.js";
import { candidateId, generateSessionId, MAX_ID_ATTEMPTS } from "../../src/store/ids.js";
import { kvStorage } from "../../src/store/kv.js";
import { LruCache } from "../../src/store/lru.js";
import { parsePeer } from "../../src/store/peer.js";
import { contentDigest, openRecord, readRecordHeader, sealRecord, type StoredRecord } from "../../src/store/records.js";
import { AUTO_CLEAR_INTERVAL, ContextStore } from "../../src/store/session-store.js";
import { MemoryStorage } from "../../src/store/storage.js";
import { WriteGate } from "../../src/store/write-gate.js";
import { TLS12_SESSION } from "./harness.js";

const NOW = 1_000_000;
const MASTER_KEY = decodeHex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")!;
const session = (extra: object = {}): Session => parseSession({ ...TLS12_SESSION, ...extra }, { now: NOW, timeout: 300 });
const times = (timeout = 300, createdAt = NOW) => ({ createdAt, expiresAt: createdAt + timeout, timeout });

function settings(overrides: Partial<ContextSettings> = {}): ContextSettings {
  return {
    name: "unit",
    ticket_lifetime: 7200,
    session_timeout: 300,
    ticket_age_window: 10,
    cache_mode: "server",
    flags: [],
    cache_size: 20480,
    cache_bytes: 16 * 1024 * 1024,
    id_prefix: "",
    id_length: 32,
    ...overrides,
  };
}

function storeWith(overrides: Partial<ContextSettings> = {}, random?: (n: number) => Uint8Array<ArrayBuffer>) {
  const storage = new MemoryStorage();
  const external = new ExternalCache(storage, MASTER_KEY, () => {});
  const store = new ContextStore(settings(overrides), external, random ? { random } : {});
  return { storage, store };
}

describe("the cache settings", () => {
  const parse = (context: object) =>
    parseConfig({ MASTER_KEY: "00".repeat(32), CONTEXTS: JSON.stringify({ c: context }) }).contexts.get("c")!;

  it("default to OpenSSL's: server mode, no flags, 20480 sessions, 32-byte random ids", () => {
    expect(parse({})).toMatchObject({ cache_mode: "server", flags: [], cache_size: 20480, id_prefix: "", id_length: 32 });
  });

  it("name the bad setting", () => {
    const cases: [object, string][] = [
      [{ cache_mode: "server-only" }, "CONTEXTS.c.cache_mode"],
      [{ flags: "update_time" }, "CONTEXTS.c.flags"],
      [{ flags: ["update_time", "no_such_flag"] }, "CONTEXTS.c.flags: [1]"],
      [{ cache_size: -1 }, "CONTEXTS.c.cache_size"],
      [{ cache_bytes: 10 }, "CONTEXTS.c.cache_bytes"],
      [{ id_prefix: "ABCD" }, "CONTEXTS.c.id_prefix"],
      [{ id_prefix: "abc" }, "CONTEXTS.c.id_prefix"],
      [{ id_prefix: "ab".repeat(33) }, "CONTEXTS.c.id_prefix"],
      [{ id_length: 33 }, "CONTEXTS.c.id_length"],
      [{ id_length: 0 }, "CONTEXTS.c.id_length"],
    ];
    for (const [context, message] of cases) expect(() => parse(context), JSON.stringify(context)).toThrow(message);
  });
});

describe("LruCache", () => {
  it("evicts the least recently used entry when full, and reports it", () => {
    const lru = new LruCache<string>({ maxEntries: 2, maxBytes: 1000 });
    expect(lru.set("a", "A", NOW + 10, 1)).toEqual({ stored: true, evicted: 0 });
    lru.set("b", "B", NOW + 10, 1);
    expect(lru.lookup("a", NOW)).toMatchObject({ status: "hit", value: "A" });
    expect(lru.set("c", "C", NOW + 10, 1)).toEqual({ stored: true, evicted: 1 });
    expect(lru.lookup("b", NOW)).toEqual({ status: "miss" });
    expect(lru.size).toBe(2);
    // peek does not change the order: a stays older than c after a peek.
    lru.lookup("c", NOW);
    expect(lru.peek("a", NOW)).toBe("A");
    lru.set("d", "D", NOW + 10, 1);
    expect(lru.peek("a", NOW)).toBeUndefined();
  });

  it("is bounded in bytes too, and never caches an entry larger than the bound", () => {
    const lru = new LruCache<string>({ maxEntries: 0, maxBytes: 100 });
    lru.set("a", "A", NOW + 10, 40);
    lru.set("b", "B", NOW + 10, 40);
    expect(lru.set("c", "C", NOW + 10, 40).evicted).toBe(1);
    expect(lru.bytes).toBe(80);
    expect(lru.set("huge", "H", NOW + 10, 101)).toEqual({ stored: false, evicted: 0 });
    expect(lru.size).toBe(2);
    // Replacing an entry frees its old size first.
    lru.set("b", "B2", NOW + 10, 10);
    expect(lru.bytes).toBe(50);
  });

  it("reports an expired entry once and drops it; flush removes what is expired at a time, or all at 0", () => {
    const lru = new LruCache<string>({ maxEntries: 10, maxBytes: 1000 });
    lru.set("short", "S", NOW + 5, 1);
    lru.set("long", "L", NOW + 50, 1);
    expect(lru.lookup("short", NOW + 4).status).toBe("hit");
    expect(lru.lookup("short", NOW + 5)).toEqual({ status: "expired" });
    expect(lru.lookup("short", NOW + 5)).toEqual({ status: "miss" });
    lru.set("short", "S", NOW + 5, 1);
    expect(lru.flush(NOW + 5)).toBe(1);
    expect(lru.flush(NOW + 5)).toBe(0);
    expect(lru.touch("long", "L2", NOW + 500)).toBe(true);
    expect(lru.flush(NOW + 60)).toBe(0);
    expect(lru.flush(0)).toBe(1);
    expect([lru.size, lru.bytes]).toEqual([0, 0]);
  });
});

describe("WriteGate", () => {
  it("allows one write per key per second and remembers its kind", () => {
    const gate = new WriteGate();
    expect(gate.mayWrite("k", NOW)).toBe(true);
    gate.record("k", NOW, "put");
    expect(gate.mayWrite("k", NOW)).toBe(false);
    expect(gate.writtenAt("k", NOW)).toBe("put");
    expect(gate.mayWrite("other", NOW)).toBe(true);
    expect(gate.mayWrite("k", NOW + 1)).toBe(true);
    // Forgets old seconds once it holds many keys.
    for (let i = 0; i < 5000; i++) gate.record(`x${i}`, NOW + (i < 4096 ? 0 : 1), "delete");
    expect(gate.writtenAt("x5", NOW + 1)).toBeUndefined();
  });
});

describe("session id generation", () => {
  it("writes the prefix over random bytes, clipped to the length", () => {
    const ones = (n: number) => new Uint8Array(n).fill(0x11);
    expect(encodeHex(candidateId(decodeHex("abcd")!, 4, ones))).toBe("abcd1111");
    expect(encodeHex(candidateId(decodeHex("abcdef")!, 2, ones))).toBe("abcd");
    expect(candidateId(new Uint8Array(0), 32).length).toBe(32);
  });

  it("checks each candidate and stops after 10 taken ones", async () => {
    let asked = 0;
    const never = await generateSessionId({ prefix: decodeHex("ab")!, length: 1, taken: async () => (++asked, true) });
    expect(never).toBeUndefined();
    expect(asked).toBe(MAX_ID_ATTEMPTS);
    let n = 0;
    const fourth = await generateSessionId({ prefix: new Uint8Array(0), length: 8, taken: async () => ++n < 4 });
    expect(fourth?.attempts).toBe(4);
  });
});

describe("peers", () => {
  it("accept the canonical forms only", () => {
    expect(parsePeer("origin.example.com:443")).toEqual({ host: "origin.example.com", port: 443, sni: undefined });
    expect(parsePeer("10.0.0.1:443/sni.example.com")).toEqual({ host: "10.0.0.1", port: 443, sni: "sni.example.com" });
    expect(parsePeer("[::1]:8443")).toEqual({ host: "[::1]", port: 8443, sni: undefined });
    // Other spellings of an IPv4 address (the WHATWG URL parser's), which would give one origin several names.
    const ipv4Spellings = ["0x0a.0.0.1:443", "0xa.0.0.1:443", "10.0.0.0x1:443", "0x7f000001:443", "1e1.0.0.1:443", "a.1:443", "127.0.0.1:443/0x7f.0.0.1", "010.0.0.1:443", "10.1:443"];
    for (const bad of ["", "origin.example.com", "ORIGIN.example.com:443", "a.com:443/a.com", "[::0:1]:443", "1.2.3.04:443", "a.com:1/", "a.com:99999", ...ipv4Spellings]) {
      expect(typeof parsePeer(bad), bad).toBe("string");
    }
  });
});

describe("records", () => {
  it("open only under the kind, context and name they were sealed for", async () => {
    const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    const s = session();
    const record: StoredRecord = { session: s, digest: await contentDigest(s), ...times(), singleUse: true, region: 4 };
    const sealed = await sealRecord(key, "server", "ctx", "abcd", record);
    const header = readRecordHeader(sealed)!;
    expect(header).toMatchObject({ kind: "server", createdAt: NOW, expiresAt: NOW + 300, timeout: 300, singleUse: true, region: 4 });
    expect((await openRecord(key, "server", "ctx", "abcd", sealed, header))?.region).toBe(4);
    // Without a region: no region byte (records written before regions read the same).
    const plain = await sealRecord(key, "server", "ctx", "abcd", { ...record, region: 0 });
    expect([plain.length, readRecordHeader(plain)!.region]).toEqual([sealed.length - 1, 0]);
    const opened = await openRecord(key, "server", "ctx", "abcd", sealed, header);
    expect(opened?.session).toEqual(s);
    expect(opened?.singleUse).toBe(true);
    expect(await openRecord(key, "server", "ctx", "abce", sealed, header)).toBeUndefined();
    expect(await openRecord(key, "server", "other", "abcd", sealed, header)).toBeUndefined();
    expect(await openRecord(key, "client", "ctx", "abcd", sealed, header)).toBeUndefined();
    // A changed time in the clear header fails authentication.
    const moved = sealed.slice();
    moved[5]! ^= 1;
    expect(await openRecord(key, "server", "ctx", "abcd", moved, readRecordHeader(moved)!)).toBeUndefined();
    expect(readRecordHeader(new Uint8Array([9, 9, 9]))).toBeUndefined();
    expect(readRecordHeader(new Uint8Array([1, 1]))).toBeUndefined();
  });

  it("digest a session's content, not its times", async () => {
    const a = await contentDigest(session());
    expect(await contentDigest(session({ created_at: NOW - 5, timeout: 9 }))).toEqual(a);
    expect(await contentDigest(session({ alpn: "h2" }))).not.toEqual(a);
  });
});

describe("the KV adapter", () => {
  it("never asks KV for an expirationTtl under 60 s", async () => {
    const puts: unknown[] = [];
    const fake = { put: async (_k: string, _v: unknown, options: unknown) => void puts.push(options) } as unknown as KVNamespace;
    const storage = kvStorage(fake);
    await storage.put("a", new Uint8Array(1), 5);
    await storage.put("b", new Uint8Array(1), 3600);
    expect(puts).toEqual([{ expirationTtl: 60 }, { expirationTtl: 3600 }]);
  });

  it("keeps peers' storage keys under KV's 512 bytes", async () => {
    const longest = `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}:65535/${"e".repeat(63)}.${"f".repeat(63)}.${"g".repeat(63)}.${"h".repeat(61)}`;
    const key = await storageKey("client", "x".repeat(64), longest);
    expect(key.length).toBeLessThan(200);
  });
});

describe("ContextStore over memory storage", () => {
  it("counts hits, misses and timeouts as OpenSSL does", async () => {
    const { store } = storeWith();
    await store.put("server", "aa", session(), times(5), NOW);
    expect(await store.get("server", "aa", NOW + 1)).toBeDefined();
    expect(await store.get("server", "bb", NOW + 1)).toBeUndefined();
    expect(await store.get("server", "aa", NOW + 5)).toBeUndefined();
    expect(store.stats()).toMatchObject({ sess_hits: 1, sess_misses: 2, sess_timeouts: 1, sess_cb_hits: 0, sess_cb_misses: 2, sess_number: 0 });
  });

  it("stores each write in KV with the record's remaining life as its ttl", async () => {
    const { store, storage } = storeWith();
    await store.put("server", "aa", session(), times(5), NOW);
    expect([...storage.values.values()].map((v) => v.ttl)).toEqual([5]);
  });

  it("serialises writes to one id: of two racing different sessions, one is stored and one is 409", async () => {
    const { store, storage } = storeWith({ flags: ["no_internal"] });
    const results = await Promise.allSettled([
      store.put("server", "aa", session(), times(), NOW),
      store.put("server", "aa", session({ alpn: "h2" }), times(), NOW),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected"]);
    expect(((results[1] as PromiseRejectedResult).reason as ServiceError).code).toBe("session_exists");
    expect(storage.writes).toBe(1);
  });

  it("fails with store_unavailable and changes nothing when the storage fails", async () => {
    const { store, storage } = storeWith();
    storage.failing = true;
    const err = await store.put("server", "aa", session(), times(), NOW).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect((err as ServiceError).code).toBe("store_unavailable");
    expect((err as ServiceError).headers["retry-after"]).toBe("5");
    expect(store.stats().sess_number).toBe(0);
    storage.failing = false;
    await store.put("server", "aa", session(), times(), NOW);
    // A remove is a purge: never refused. With KV failing (and no purger) it takes effect here
    // at once and its KV delete is retried later; KV still holds the record meanwhile.
    storage.failing = true;
    expect(await store.remove("server", "aa", NOW + 1)).toBe("pending");
    storage.failing = false;
    expect(await store.get("server", "aa", NOW + 1)).toBeUndefined();
    expect(storage.values.size).toBe(1);
  });

  it("sweeps expired entries every 255 operations", async () => {
    const { store } = storeWith();
    await store.put("server", "aa", session(), times(5), NOW);
    await store.put("server", "bb", session(), times(500), NOW);
    for (let i = 2; i < AUTO_CLEAR_INTERVAL - 1; i++) await store.get("server", "bb", NOW + 10);
    expect(store.stats().sess_number).toBe(2);
    await store.get("server", "bb", NOW + 10);
    expect(store.stats().sess_number).toBe(1);
  });

  it("generates ids with the context's prefix and length, and fails after 10 taken ids", async () => {
    const zeros = (n: number) => new Uint8Array(n);
    const { store } = storeWith({ id_prefix: "77", id_length: 2 }, zeros);
    const first = await store.create(session(), times(), NOW);
    expect([first.id, first.attempts]).toEqual(["7700", 1]);
    const err = await store.create(session({ alpn: "h2" }), times(), NOW).catch((e: unknown) => e);
    expect((err as ServiceError).code).toBe("id_generation_failed");
  });

  it("refuses kinds the cache mode does not have", async () => {
    const { store } = storeWith({ cache_mode: "client" });
    await expect(store.get("server", "aa", NOW)).rejects.toMatchObject({ code: "cache_disabled" });
    await store.put("client", "origin.example.com:443", session(), times(), NOW);
    expect(await store.get("client", "origin.example.com:443", NOW)).toBeDefined();
  });
});
