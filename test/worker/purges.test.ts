/**
 * The session store under KV's real rules (one write a second per key, a
 * delete seen elsewhere up to 60 s later): purges that always take effect,
 * takes that answer without waiting for KV, a lookup that waits for a store
 * still in flight in its isolate, and client sessions at fleet write rates.
 * KV here is wrapped to refuse a second write to a key within one second of
 * the test's clock, as the platform does.
 */
import { env } from "cloudflare:workers";
import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Env } from "../../src/env.js";
import { shardFor } from "../../src/replay/guard.js";
import type { ReplayGuardObject } from "../../src/replay/object.js";
import { storageKey } from "../../src/store/external.js";
import { unreachableGuard } from "./faults.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

let counter = 0;
const uid = () => (++counter).toString(16).padStart(8, "0") + "bead".repeat(4);
const OTHER_SESSION = { ...TLS12_SESSION, master_secret: "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3" };

/**
 * The real namespace, refusing a second write (put or delete) to one key
 * within a second of `clock()`, with the error the platform throws.
 */
function rateLimitedKv(clock: () => number) {
  const lastWrite = new Map<string, number>();
  let refused = 0;
  const write = (key: string) => {
    if (lastWrite.get(key) === clock()) {
      refused++;
      throw new Error("KV PUT failed: 429 Too Many Requests");
    }
    lastWrite.set(key, clock());
  };
  const kv = {
    get: (...args: unknown[]) => (env.SESSIONS.get as (...a: unknown[]) => unknown)(...args),
    put: async (key: string, ...rest: unknown[]) => (write(key), (env.SESSIONS.put as (...a: unknown[]) => unknown)(key, ...rest)),
    delete: async (key: string) => (write(key), env.SESSIONS.delete(key)),
  } as unknown as KVNamespace;
  return { kv, refused: () => refused };
}

/** The replay-guard shard that holds purges of KV key `key`, its clock moved past their due time. */
async function runPurges(key: string): Promise<string[]> {
  const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`replay:${shardFor(key, 32)}`));
  await runInDurableObject(stub, (obj: ReplayGuardObject) => void (obj.clock = () => Date.now() + 10_000));
  await runDurableObjectAlarm(stub);
  return runInDurableObject(stub, (obj: ReplayGuardObject) => obj.pendingPurges());
}
const pendingPurges = (key: string) =>
  runInDurableObject(env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`replay:${shardFor(key, 32)}`)), (obj: ReplayGuardObject) => obj.pendingPurges());

const put = (loc: Location, id: string, session: object = TLS12_SESSION) => loc.json("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session } });
const get = (loc: Location, id: string) => loc.json("GET", `/v1/sessions/${id}`, { token: "alpha-sessions" });
const del = (loc: Location, id: string) => loc.call("DELETE", `/v1/sessions/${id}`, { token: "alpha-sessions" });
const kvHas = async (id: string) => (await env.SESSIONS.get(await storageKey("server", "alpha", id))) !== null;

describe("a purge (DELETE)", () => {
  it("is never refused: in the second of its store it is accepted, takes effect here at once, and reaches KV by the guard's alarm", async () => {
    const clock = { now: T0 };
    const { kv } = rateLimitedKv(() => clock.now);
    const paris = location(T0, { env: { SESSIONS: kv } });
    const id = uid();
    expect((await put(paris, id)).status).toBe(201);
    // The same second: KV would refuse the delete.
    const res = await del(paris, id);
    expect(res.status).toBe(202);
    // Gone here at once, even though KV still holds it.
    expect((await get(paris, id)).status).toBe(404);
    expect((await paris.call("HEAD", `/v1/sessions/${id}`, { token: "alpha-sessions" })).status).toBe(404);
    expect(await kvHas(id)).toBe(true);
    const key = await storageKey("server", "alpha", id);
    expect(await pendingPurges(key)).toContain(key);
    // The guard's alarm makes the delete; then no location finds it.
    expect(await runPurges(key)).not.toContain(key);
    expect(await kvHas(id)).toBe(false);
    expect((await get(location(T0 + 1), id)).status).toBe(404);
  });

  it("is owed even by a shard that lost its alarm: it sets it again when it starts (workerd forgets alarms on a restart)", async () => {
    const stub = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName("replay:rearm-test"));
    await stub.purgeLater("s:alpha:rearm", 1100);
    // As a restarted workerd leaves it: the purge stored, no alarm.
    await runInDurableObject(stub, async (_obj: ReplayGuardObject, state) => state.storage.deleteAlarm());
    expect(await runInDurableObject(stub, (_obj: ReplayGuardObject, state) => state.storage.getAlarm())).toBeNull();
    await abortAllDurableObjects();
    const restarted = env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName("replay:rearm-test"));
    expect(await runInDurableObject(restarted, (obj: ReplayGuardObject) => obj.pendingPurges())).toEqual(["s:alpha:rearm"]);
    expect(await runInDurableObject(restarted, (_obj: ReplayGuardObject, state) => state.storage.getAlarm())).not.toBeNull();
  });

  it("a second after its store: deleted from KV before it answers (204)", async () => {
    const loc = location();
    const id = uid();
    await put(loc, id);
    loc.now = T0 + 1;
    expect((await del(loc, id)).status).toBe(204);
    expect(await kvHas(id)).toBe(false);
    expect((await del(loc, id)).status).toBe(204);
  });

  it("with KV failing, and with the guard unreachable too, is still accepted and takes effect here", async () => {
    const healthy = location();
    const id = uid();
    await put(healthy, id);
    const writesFail = {
      get: (...args: unknown[]) => (env.SESSIONS.get as (...a: unknown[]) => unknown)(...args),
      put: () => Promise.reject(new Error("KV unavailable")),
      delete: () => Promise.reject(new Error("KV unavailable")),
    } as unknown as KVNamespace;
    for (const faults of [{ SESSIONS: writesFail }, { SESSIONS: writesFail, REPLAY_GUARD: unreachableGuard }] as Partial<Env>[]) {
      const loc = location(T0 + 2, { env: faults });
      expect((await get(loc, id)).status).toBe(200);
      expect((await del(loc, id)).status).toBe(202);
      expect((await get(loc, id)).status).toBe(404);
    }
    // The first was handed to the guard, whose KV works: it lands.
    await runPurges(await storageKey("server", "alpha", id));
    expect(await kvHas(id)).toBe(false);
  });

  it("hides a stale KV copy from its isolate, which another location may still read within KV's propagation", async () => {
    // KV whose deletes have not reached this location's reads yet.
    const stale = {
      get: (...args: unknown[]) => (env.SESSIONS.get as (...a: unknown[]) => unknown)(...args),
      put: (...args: unknown[]) => (env.SESSIONS.put as (...a: unknown[]) => unknown)(...args),
      delete: async () => undefined,
    } as unknown as KVNamespace;
    const loc = location(T0, { env: { SESSIONS: stale } });
    const id = uid();
    await put(loc, id);
    loc.now = T0 + 1;
    expect((await del(loc, id)).status).toBe(204);
    expect((await get(loc, id)).status).toBe(404);
    expect((await get(location(T0 + 1, { env: { SESSIONS: stale } }), id)).status).toBe(200);
    // For as long as KV may show it: 60 s.
    loc.now = T0 + 60;
    expect((await get(loc, id)).status).toBe(404);
  });

  it("then a store of the same id: refused until the purge has landed, then stored afresh", async () => {
    const clock = { now: T0 };
    const { kv } = rateLimitedKv(() => clock.now);
    const loc = location(T0, { env: { SESSIONS: kv } });
    const id = uid();
    await put(loc, id, OTHER_SESSION);
    expect((await del(loc, id)).status).toBe(202);
    // In the same second, and the next: the pending KV delete would remove a new store.
    for (const at of [T0, T0 + 1]) {
      loc.now = clock.now = at;
      const again = await loc.call("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION } });
      expect([again.status, ((await again.json()) as any).error.code, again.headers.get("retry-after")]).toEqual([429, "write_rate_limited", String(T0 + 2 - at)]);
    }
    await runPurges(await storageKey("server", "alpha", id));
    loc.now = clock.now = T0 + 2;
    expect((await put(loc, id)).status).toBe(201);
    expect((await get(loc, id)).body.session.master_secret).toBe(TLS12_SESSION.master_secret);
    expect((await get(location(T0 + 3), id)).body.session.master_secret).toBe(TLS12_SESSION.master_secret);
  });

  it("of a client session is never refused either", async () => {
    const clock = { now: T0 };
    const { kv } = rateLimitedKv(() => clock.now);
    const loc = location(T0, { env: { SESSIONS: kv } });
    const peer = `purge-${uid()}.example.com:443`;
    expect((await loc.call("PUT", `/v1/client-sessions/${peer}`, { token: "sess-client", body: { session: TLS12_SESSION } })).status).toBe(201);
    expect((await loc.call("DELETE", `/v1/client-sessions/${peer}`, { token: "sess-client" })).status).toBe(202);
    expect((await loc.call("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" })).status).toBe(404);
  });
});

describe("a take", () => {
  it("in the second of its store answers at once (no wait for KV), and the removal lands by the guard's alarm", async () => {
    const clock = { now: T0 };
    const { kv } = rateLimitedKv(() => clock.now);
    const loc = location(T0, { env: { SESSIONS: kv } });
    const id = uid();
    expect((await put(loc, id)).status).toBe(201);
    // Nothing on this path sleeps: the test's clock never moves, yet the take answers.
    const taken = await loc.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" });
    expect([taken.status, taken.body.session.master_secret]).toEqual([200, TLS12_SESSION.master_secret]);
    // Gone here at once (a lookup waits for the removal in flight).
    expect((await get(loc, id)).status).toBe(404);
    const again = await loc.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" });
    expect(again.status).toBe(404);
    // Elsewhere: taken already until KV shows the delete.
    expect((await location(T0).json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" })).body.error.code).toBe("session_taken");
    const key = await storageKey("server", "alpha", id);
    expect(await pendingPurges(key)).toContain(key);
    await runPurges(key);
    expect(await kvHas(id)).toBe(false);
  });
});

describe("a lookup", () => {
  it("waits for a store of its id still in flight in the same isolate", async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let writing!: () => void;
    const started = new Promise<void>((r) => (writing = r));
    const slowPut = {
      get: (...args: unknown[]) => (env.SESSIONS.get as (...a: unknown[]) => unknown)(...args),
      put: async (...args: unknown[]) => {
        writing();
        await held;
        return (env.SESSIONS.put as (...a: unknown[]) => unknown)(...args);
      },
      delete: (key: string) => env.SESSIONS.delete(key),
    } as unknown as KVNamespace;
    const loc = location(T0, { env: { SESSIONS: slowPut } });
    const id = uid();
    const storing = put(loc, id);
    await started;
    // The client reconnects while its session is still being written.
    const lookup = get(loc, id);
    release();
    expect((await storing).status).toBe(201);
    expect((await lookup).status).toBe(200);
  });
});

describe("client sessions for one origin", () => {
  it("take 100 stores a second from 100 locations, three seconds running, without one refused", async () => {
    const clock = { now: T0 };
    const { kv, refused } = rateLimitedKv(() => clock.now);
    const peer = `busy-${uid()}.example.com:443`;
    const locations = Array.from({ length: 100 }, () => location(T0, { env: { SESSIONS: kv } }));
    const secrets = (second: number, i: number) => btoa(String.fromCharCode(...new Uint8Array(48).fill((second * 100 + i) % 251))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    for (let second = 0; second < 3; second++) {
      clock.now = T0 + second;
      for (const loc of locations) loc.now = clock.now;
      const answers = await Promise.all(
        locations.map((loc, i) =>
          loc.json("PUT", `/v1/client-sessions/${peer}`, { token: "sess-client", body: { session: { ...TLS12_SESSION, master_secret: secrets(second, i) } } }),
        ),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(100).fill(201));
      // Each location resumes with the session it stored last.
      for (const [i, loc] of locations.entries()) {
        expect((await loc.json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" })).body.session.master_secret).toBe(secrets(second, i));
      }
    }
    // KV refused 99 of each second's writes; the fleet still holds a session of the last second.
    expect(refused()).toBe(3 * 99);
    const fresh = await location(T0 + 3).json("GET", `/v1/client-sessions/${peer}`, { token: "sess-client" });
    expect(fresh.status).toBe(200);
    expect(Array.from({ length: 100 }, (_, i) => secrets(2, i))).toContain(fresh.body.session.master_secret);
    // Every refused write was kept in its isolate, and counted there.
    let coalesced = 0;
    for (const loc of locations) coalesced += (await loc.json("GET", "/v1/stats", { token: "sess-client" })).body.client_writes_coalesced;
    expect(coalesced).toBe(refused());
  });
});
