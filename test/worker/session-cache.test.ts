/**
 * The cache flags over HTTP, each against OpenSSL's documented meaning,
 * observed through the stats counters or by deleting the KV record behind
 * the internal cache's back. KV is shared by this file's tests: own ids each.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { storageKey } from "../../src/store/external.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

let counter = 0;
const uid = () => `cace${(++counter).toString(16).padStart(4, "0")}${Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => b.toString(16).padStart(2, "0")).join("")}`;

const put = (loc: Location, token: string, id: string, timeout?: number) =>
  loc.json("PUT", `/v1/sessions/${id}`, { token, body: { session: TLS12_SESSION, ...(timeout && { timeout }) } });
const get = (loc: Location, token: string, id: string) => loc.json("GET", `/v1/sessions/${id}`, { token });
const stats = async (loc: Location, token: string) => (await loc.json("GET", "/v1/stats", { token })).body;
/** Removes the KV record without telling any isolate. */
const deleteBehindBack = async (context: string, id: string) => env.SESSIONS.delete(await storageKey("server", context, id));

/** The real namespace, counting writes. */
function countingKv() {
  const counts = { put: 0, delete: 0 };
  const kv = {
    get: (...a: unknown[]) => (env.SESSIONS.get as (...x: unknown[]) => unknown)(...a),
    put: (...a: unknown[]) => {
      counts.put++;
      return (env.SESSIONS.put as (...x: unknown[]) => unknown)(...a);
    },
    delete: (key: string) => {
      counts.delete++;
      return env.SESSIONS.delete(key);
    },
  } as unknown as KVNamespace;
  return { kv, counts };
}

describe("cache flags, as OpenSSL documents them", () => {
  it("default: lookups are answered from the internal cache first; KV is the fleet's copy", async () => {
    const loc = location();
    const id = uid();
    await put(loc, "alpha-all", id);
    await deleteBehindBack("alpha", id);
    // This isolate still has it...
    expect((await get(loc, "alpha-all", id)).status).toBe(200);
    expect(await stats(loc, "alpha-all")).toMatchObject({ sess_hits: 1, sess_misses: 0, sess_cb_hits: 0, sess_cb_misses: 0 });
    // ...another location does not.
    expect((await get(location(T0), "alpha-all", id)).status).toBe(404);
  });

  it("no_internal_lookup: every lookup goes to KV, though sessions are still stored internally", async () => {
    const loc = location();
    const id = uid();
    await put(loc, "sess-nolookup", id);
    expect((await get(loc, "sess-nolookup", id)).status).toBe(200);
    // The internal cache is not consulted, so it counts no miss (as in OpenSSL).
    expect(await stats(loc, "sess-nolookup")).toMatchObject({ sess_number: 1, sess_hits: 1, sess_misses: 0, sess_cb_hits: 1 });
    await deleteBehindBack("sess-nolookup", id);
    expect((await get(loc, "sess-nolookup", id)).status).toBe(404);
    expect((await loc.call("HEAD", `/v1/sessions/${id}`, { token: "sess-nolookup" })).status).toBe(404);
    expect(await stats(loc, "sess-nolookup")).toMatchObject({ sess_number: 1, sess_cb_misses: 1 });
  });

  it("no_internal_store: neither new sessions nor KV hits enter the internal cache", async () => {
    const loc = location();
    const id = uid();
    await put(loc, "sess-nostore", id);
    expect((await stats(loc, "sess-nostore")).sess_number).toBe(0);
    expect((await get(loc, "sess-nostore", id)).status).toBe(200);
    expect(await stats(loc, "sess-nostore")).toMatchObject({ sess_number: 0, sess_misses: 1, sess_cb_hits: 1, sess_hits: 1 });
    await deleteBehindBack("sess-nostore", id);
    expect((await get(loc, "sess-nostore", id)).status).toBe(404);
  });

  it("no_internal: both of the above", async () => {
    const loc = location();
    const id = uid();
    await put(loc, "sess-nointernal", id);
    expect((await get(loc, "sess-nointernal", id)).status).toBe(200);
    expect(await stats(loc, "sess-nointernal")).toMatchObject({ sess_number: 0, sess_misses: 0, sess_cb_hits: 1 });
    await deleteBehindBack("sess-nointernal", id);
    expect((await get(loc, "sess-nointernal", id)).status).toBe(404);
  });

  it("no_auto_clear: expired sessions are no longer swept every 255 operations, only by an explicit flush", async () => {
    const loc = location();
    const keep = { alpha: uid(), noclear: uid() };
    for (const [token, keeper] of [["alpha-all", keep.alpha], ["sess-noclear", keep.noclear]] as const) {
      for (let i = 0; i < 3; i++) await put(loc, token, uid(), 5);
      await put(loc, token, keeper, 3600);
    }
    loc.now = T0 + 10;
    // 4 puts so far; 250 more operations (internal hits) make 254: no sweep yet.
    for (let i = 0; i < 250; i++) {
      await get(loc, "alpha-all", keep.alpha);
      await get(loc, "sess-noclear", keep.noclear);
    }
    expect((await stats(loc, "alpha-all")).sess_number).toBe(4);
    // The 255th operation sweeps, unless no_auto_clear.
    await get(loc, "alpha-all", keep.alpha);
    await get(loc, "sess-noclear", keep.noclear);
    expect((await stats(loc, "alpha-all")).sess_number).toBe(1);
    expect((await stats(loc, "sess-noclear")).sess_number).toBe(4);
    const flushed = await loc.json("POST", "/v1/sessions/flush", { token: "sess-noclear" });
    expect(flushed.body).toEqual({ flushed: 3 });
    expect((await stats(loc, "sess-noclear")).sess_number).toBe(1);
  });

  it("update_time: the timeout counts from the last use, fleet-wide, refreshed in KV at most once a second", async () => {
    const { kv, counts } = countingKv();
    const loc = location(T0, { env: { SESSIONS: kv } });
    const id = uid();
    expect((await put(loc, "sess-touch", id, 5)).body.expires_at).toBe(T0 + 5);
    expect(counts.put).toBe(1);
    loc.now = T0 + 4;
    expect((await get(loc, "sess-touch", id)).body.expires_at).toBe(T0 + 9);
    // Used three times in one second: one refresh.
    await get(loc, "sess-touch", id);
    await get(loc, "sess-touch", id);
    expect(counts.put).toBe(2);
    loc.now = T0 + 8;
    expect((await get(loc, "sess-touch", id)).body).toMatchObject({ created_at: T0, expires_at: T0 + 13 });
    expect(counts.put).toBe(3);
    // Another location sees the refreshed expiry in KV, and its use refreshes it in turn...
    const other = location(T0 + 12);
    expect((await get(other, "sess-touch", id)).body.expires_at).toBe(T0 + 17);
    expect((await get(location(T0 + 16), "sess-touch", id)).status).toBe(200);
    // ...until a whole timeout passes unused.
    expect((await get(location(T0 + 21), "sess-touch", id)).status).toBe(404);

    // Without the flag the timeout counts from creation.
    const plain = uid();
    loc.now = T0 + 17;
    await put(loc, "alpha-all", plain, 5);
    loc.now = T0 + 21;
    expect((await get(loc, "alpha-all", plain)).body.expires_at).toBe(T0 + 22);
    loc.now = T0 + 22;
    expect((await get(loc, "alpha-all", plain)).status).toBe(404);

    // And never past 7 days from creation.
    const week = uid();
    loc.now = T0 + 100;
    await put(loc, "sess-touch", week, 604_800);
    loc.now = T0 + 200;
    expect((await get(loc, "sess-touch", week)).body.expires_at).toBe(T0 + 100 + 604_800);
  });

  it("cache_size: the least recently used session is evicted and counted in sess_cache_full", async () => {
    const loc = location();
    const [a, b, c] = [uid(), uid(), uid()];
    await put(loc, "sess-small", a);
    await put(loc, "sess-small", b);
    await get(loc, "sess-small", a); // a is now the most recently used
    await put(loc, "sess-small", c); // evicts b
    expect(await stats(loc, "sess-small")).toMatchObject({ sess_number: 2, sess_cache_full: 1, sess_cache_size: 2 });
    for (const id of [a, b, c]) await deleteBehindBack("sess-small", id);
    expect((await get(loc, "sess-small", a)).status).toBe(200);
    expect((await get(loc, "sess-small", c)).status).toBe(200);
    expect((await get(loc, "sess-small", b)).status).toBe(404);
  });
});
