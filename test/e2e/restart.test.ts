/**
 * An isolate restart loses nothing (docs/security.md, "Faults"): the worker
 * under Miniflare with a persistence dir stores sessions, seals tickets and
 * rotates; then its workerd is stopped outright (Miniflare#dispose kills it:
 * no graceful shutdown, pending waitUntil work is lost) and a new Miniflare
 * instance starts over the same dir.
 *
 * - Same MASTER_KEY: every stored session reads back identical, the ring has
 *   the same keys in the same states, every ticket opens as before (renew
 *   where its key no longer encrypts), a single-use ticket opened before is
 *   still refused, a take done before stays done.
 * - Another MASTER_KEY: the ring renews (new key ids, old tickets
 *   key_unknown), stored sessions read as not found; never a 5xx.
 *
 * Time: the service runs on a clock the test moves (clock: "controlled"), so
 * a rotation really takes effect; each new instance continues the previous
 * one's clock (clockOffset), as a restarted isolate would read the same
 * wall clock. The tests of this file build on each other, in order.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ALL_SCOPES, startService, type Service, type ServiceOptions } from "./service.js";

const persistDir = mkdtempSync(join(tmpdir(), "esr-restart-"));
const running = new Set<Service>();

const OPTIONS: ServiceOptions = {
  clock: "controlled",
  persistDir,
  // Both caches: server sessions by id and client sessions by peer.
  contexts: { default: { cache_mode: "both" } },
  grants: { all: { scopes: ALL_SCOPES } },
};

async function start(extra: Partial<ServiceOptions>): Promise<Service> {
  const service = await startService({ ...OPTIONS, ...extra });
  running.add(service);
  return service;
}

async function stop(service: Service): Promise<void> {
  running.delete(service);
  await service.stop();
}

afterAll(async () => {
  for (const s of running) await s.stop().catch(() => {});
  rmSync(persistDir, { recursive: true, force: true });
});

/** Every answer of every instance, for the "never a 5xx" check. */
const answers: { instance: string; method: string; path: string; status: number }[] = [];

interface Answer {
  status: number;
  body: any;
}

function client(name: string, service: Service) {
  return async (method: string, path: string, body?: unknown): Promise<Answer> => {
    const res = await fetch(`${service.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${service.tokens.all}`, ...(body !== undefined && { "content-type": "application/json" }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    answers.push({ instance: name, method, path, status: res.status });
    if (res.status >= 500) throw new Error(`${name}: ${method} ${path}: HTTP ${res.status} ${text}\n${service.logs().slice(-4000)}`);
    return { status: res.status, body: text && res.headers.get("content-type")?.includes("json") ? JSON.parse(text) : text };
  };
}

const code = (a: Answer) => [a.status, a.body?.error?.code];

/** Distinct sessions, so that a mix-up between ids would show. */
const SESSIONS = {
  tls12: {
    version: "TLSv1.2",
    cipher_suite: 49195,
    master_secret: randomBytes(48).toString("base64url"),
    extended_master_secret: true,
    server_name: "tls12.restart.test",
  },
  tls13: {
    version: "TLSv1.3",
    cipher_suite: 4865,
    master_secret: randomBytes(32).toString("base64url"),
    server_name: "tls13.restart.test",
    alpn: "h2",
    ticket_age_add: 123456789,
    max_early_data: 16384,
  },
  opaque: { opaque: randomBytes(300).toString("base64url"), server_name: "opaque.restart.test" },
} as const;

const sessionIds = { tls12: "aa01", tls13: "aa02".repeat(8), opaque: "aa03".repeat(16) } as const;
const PEERS = ["origin.restart.test:443/sni.restart.test", "10.0.0.1:8443"] as const;
const LONG = 7200;

interface Sealed {
  ticket: string;
  session_id: string;
  key_id: number;
  expires_at: number;
}

const state = {
  masterKey: "",
  tokens: {} as Record<string, string>,
  offset: 0,
  /** GET /v1/keys before the restart: id, state and times. */
  keys: [] as unknown[],
  k1: 0,
  k2: 0,
  tickets: {} as Record<"plain" | "store" | "singleUseOpened" | "singleUse" | "singleUseStore" | "underK2", Sealed>,
  /** Each ticket's open answer before the restart (single-use ones: the one allowed open). */
  opened: {} as Record<string, any>,
  generatedId: "",
  /** GET answers before the restart, by path. */
  reads: {} as Record<string, any>,
  takenLater: "",
  takenSameSecond: "",
};

const ringState = (ring: { keys: any[] }) => ring.keys.map((k) => ({ ...k }));

describe("an isolate restart", () => {
  let a: Service;

  beforeAll(async () => {
    a = await start({});
    state.masterKey = a.masterKey;
    state.tokens = a.tokens;
  });

  it("instance 1: stores sessions, seals tickets, takes, rotates", async () => {
    const call = client("1", a);
    const ring0 = await call("GET", "/v1/keys");
    expect(ring0.body.keys.map((k: any) => k.state)).toEqual(["active", "pending"]);
    state.k1 = ring0.body.keys[0].id;

    // Sessions by id, a generated id, client sessions by peer.
    for (const [name, session] of Object.entries(SESSIONS)) {
      const put = await call("PUT", `/v1/sessions/${sessionIds[name as keyof typeof SESSIONS]}`, { session, timeout: LONG });
      expect(put.status).toBe(201);
    }
    const generated = await call("POST", "/v1/sessions", { session: { ...SESSIONS.tls12, server_name: "generated.restart.test" }, timeout: LONG });
    expect(generated.status).toBe(201);
    state.generatedId = generated.body.session_id;
    for (const [i, peer] of PEERS.entries()) {
      expect((await call("PUT", `/v1/client-sessions/${peer}`, { session: i ? SESSIONS.tls13 : SESSIONS.opaque, timeout: LONG })).status).toBe(201);
    }

    // Tickets under k1: plain, store: true (with a copy for the store fallback), single use (one opened now, two never).
    const seal = async (body: Record<string, unknown>): Promise<Sealed> => {
      const r = await call("POST", "/v1/tickets", { lifetime: LONG, ...body });
      expect(r.status).toBe(201);
      return r.body;
    };
    state.tickets.plain = await seal({ session: SESSIONS.tls12 });
    state.tickets.store = await seal({ session: { ...SESSIONS.tls13, session_id: "bb01" }, store: true });
    state.tickets.singleUseOpened = await seal({ session: SESSIONS.tls13, single_use: true });
    state.tickets.singleUse = await seal({ session: SESSIONS.opaque, single_use: true });
    state.tickets.singleUseStore = await seal({ session: { ...SESSIONS.tls12, session_id: "bb02" }, single_use: true, store: true });
    for (const t of Object.values(state.tickets)) expect(t.key_id).toBe(state.k1);
    const once = await call("POST", "/v1/tickets/open", { ticket: state.tickets.singleUseOpened.ticket });
    expect([once.status, once.body.single_use]).toEqual([200, true]);
    expect(code(await call("POST", "/v1/tickets/open", { ticket: state.tickets.singleUseOpened.ticket }))).toEqual([422, "ticket_replayed"]);

    // Takes: one a second after the store, one in the same second (KV cannot
    // take its delete yet: it is handed to the replay guard, whose alarm
    // makes it and outlives the restart below).
    state.takenLater = "cc01";
    state.takenSameSecond = "cc02";
    expect((await call("PUT", `/v1/sessions/${state.takenLater}`, { session: SESSIONS.opaque, timeout: LONG })).status).toBe(201);
    await a.advanceClock(1);
    expect((await call("POST", `/v1/sessions/${state.takenLater}/take`)).status).toBe(200);
    expect((await call("PUT", `/v1/sessions/${state.takenSameSecond}`, { session: SESSIONS.tls12, timeout: LONG })).status).toBe(201);
    expect((await call("POST", `/v1/sessions/${state.takenSameSecond}/take`)).status).toBe(200);
    for (const id of [state.takenLater, state.takenSameSecond]) {
      expect(code(await call("POST", `/v1/sessions/${id}/take`))).toEqual([404, "session_not_found"]);
      expect(code(await call("GET", `/v1/sessions/${id}`))).toEqual([404, "session_not_found"]);
    }

    // One rotation: the successor was published with the ring; once
    // prepublish_lead (600 s) has passed, a rotation promotes it at once.
    await a.advanceClock(600);
    const rotated = await call("POST", "/v1/keys/rotate");
    expect(rotated.status).toBe(200);
    expect(rotated.body.activates_at).toBe(rotated.body.now);
    const ring1 = await call("GET", "/v1/keys");
    expect(ring1.body.keys.map((k: any) => [k.id === state.k1 ? "k1" : "other", k.state])).toEqual([["k1", "retiring"], ["other", "active"], ["other", "pending"]]);
    state.k2 = ring1.body.keys[1].id;
    state.tickets.underK2 = await seal({ session: SESSIONS.opaque });
    expect(state.tickets.underK2.key_id).toBe(state.k2);

    // What instance 2 must answer identically.
    for (const [name, t] of Object.entries(state.tickets)) {
      if (name.startsWith("singleUse")) continue;
      const r = await call("POST", "/v1/tickets/open", { ticket: t.ticket });
      expect(r.status).toBe(200);
      state.opened[name] = r.body;
    }
    expect([state.opened.plain.renew, state.opened.store.renew, state.opened.underK2.renew]).toEqual([true, true, false]);
    for (const path of readPaths()) {
      const r = await call("GET", path);
      expect(r.status, path).toBe(200);
      state.reads[path] = r.body;
    }
    state.keys = ringState((await call("GET", "/v1/keys")).body);
    state.offset = await a.clockOffset();
    expect(state.offset).toBeGreaterThanOrEqual(601);
    expect(a.errorLines()).toEqual([]);
    await stop(a);
  });

  it("instance 2, same state and MASTER_KEY: no session, key or single use lost", async () => {
    const b = await start({ masterKey: state.masterKey, tokens: state.tokens, clockOffset: state.offset });
    const call = client("2", b);

    // The ring: the same keys, states and times.
    expect(ringState((await call("GET", "/v1/keys")).body)).toEqual(state.keys);

    // Every stored session, identical (content, times).
    for (const path of readPaths()) {
      const r = await call("GET", path);
      expect([r.status, r.body], path).toEqual([200, state.reads[path]]);
      expect((await call("HEAD", path)).status, path).toBe(200);
    }

    // Every ticket opens as before; k1's renew, k2's do not.
    for (const [name, before] of Object.entries(state.opened)) {
      const r = await call("POST", "/v1/tickets/open", { ticket: state.tickets[name as keyof typeof state.tickets].ticket });
      expect([r.status, r.body], name).toEqual([200, before]);
    }
    // Single use survives: the one opened before is refused; the others open once now.
    expect(code(await call("POST", "/v1/tickets/open", { ticket: state.tickets.singleUseOpened.ticket }))).toEqual([422, "ticket_replayed"]);
    for (const name of ["singleUse", "singleUseStore"] as const) {
      const first = await call("POST", "/v1/tickets/open", { ticket: state.tickets[name].ticket });
      expect([first.status, first.body.single_use, first.body.renew, first.body.session_id], name).toEqual([200, true, true, state.tickets[name].session_id]);
      expect(code(await call("POST", "/v1/tickets/open", { ticket: state.tickets[name].ticket })), name).toEqual([422, "ticket_replayed"]);
    }

    // A take done before stays done. The one a second after its store was
    // removed from KV at once: nothing to take, nothing to read.
    expect(code(await call("GET", `/v1/sessions/${state.takenLater}`))).toEqual([404, "session_not_found"]);
    expect(code(await call("POST", `/v1/sessions/${state.takenLater}/take`))).toEqual([404, "session_not_found"]);
    // The same-second one's KV delete was handed to the guard's alarm, due
    // 1.1 s after the take: on the platform it outlives the restart, but
    // workerd forgets alarms on a restart (workerd#2927), so whether KV
    // still shows it here depends on how fast instance 1 stopped. Exactly
    // once does not: the guard's entry is stored, and a take is refused
    // (409 while KV still shows the session, 404 once the delete has landed).
    const [status, refusal] = code(await call("POST", `/v1/sessions/${state.takenSameSecond}/take`));
    expect(["409 session_taken", "404 session_not_found"]).toContain(`${status} ${refusal}`);

    // And the restarted instance works: seals under k2, stores, takes.
    const sealed = await call("POST", "/v1/tickets", { session: SESSIONS.tls12 });
    expect([sealed.status, sealed.body.key_id]).toEqual([201, state.k2]);
    expect((await call("POST", "/v1/tickets/open", { ticket: sealed.body.ticket })).body.renew).toBe(false);
    expect((await call("PUT", "/v1/sessions/dd01", { session: SESSIONS.tls13 })).status).toBe(201);
    await b.advanceClock(1);
    expect((await call("POST", "/v1/sessions/dd01/take")).status).toBe(200);
    expect(code(await call("POST", "/v1/sessions/dd01/take"))).toEqual([404, "session_not_found"]);

    // The clock continued: the restart did not take it back.
    expect(await b.now()).toBeGreaterThanOrEqual(state.opened.underK2.issued_at);

    // The store: true ticket's copy survived too: once a revoke destroys k1,
    // the ticket resumes from it. The single-use one's copy went with its use.
    const revoked = await call("POST", "/v1/keys/rotate", { revoke: true });
    expect(revoked.body.revoked).toContain(state.k1);
    const fromCopy = await call("POST", "/v1/tickets/open", { ticket: state.tickets.store.ticket });
    expect([fromCopy.status, fromCopy.body.source, fromCopy.body.session]).toEqual([200, "store", state.opened.store.session]);
    expect(code(await call("POST", "/v1/tickets/open", { ticket: state.tickets.singleUseStore.ticket }))[0]).toBe(422);
    state.offset = await b.clockOffset();
    expect(b.errorLines()).toEqual([]);
    await stop(b);
  });

  it("instance 3, another MASTER_KEY: the ring renews, old tickets are key_unknown, sessions are not found, never a 5xx", async () => {
    const otherKey = randomBytes(32).toString("hex");
    const c = await start({ masterKey: otherKey, tokens: state.tokens, clockOffset: state.offset });
    const call = client("3", c);

    const ring = await call("GET", "/v1/keys");
    expect(ring.body.keys.map((k: any) => k.state)).toEqual(["active", "pending"]);
    const oldIds = new Set((state.keys as { id: number }[]).map((k) => k.id));
    for (const k of ring.body.keys) expect(oldIds.has(k.id), `key ${k.id} survived`).toBe(false);

    // Every ticket of the old ring: its key is gone, and a store: true
    // ticket's stored session does not authenticate under the new key.
    for (const [name, t] of Object.entries(state.tickets)) {
      expect(code(await call("POST", "/v1/tickets/open", { ticket: t.ticket })), name).toEqual([422, "key_unknown"]);
    }
    // Every stored session reads as absent, by every route.
    for (const path of readPaths()) {
      expect(code(await call("GET", path)), path).toEqual([404, "session_not_found"]);
      expect((await call("HEAD", path)).status, path).toBe(404);
    }
    for (const id of [...Object.values(sessionIds), state.generatedId, state.takenSameSecond]) {
      expect(code(await call("POST", `/v1/sessions/${id}/take`)), id).toEqual([404, "session_not_found"]);
    }
    // The old ids can be stored again (another session under the id is no conflict: the old one is unreadable).
    expect((await call("PUT", `/v1/sessions/${sessionIds.tls12}`, { session: SESSIONS.opaque })).status).toBe(201);
    expect((await call("GET", `/v1/sessions/${sessionIds.tls12}`)).body.session.opaque).toBe(SESSIONS.opaque.opaque);
    expect((await call("PUT", `/v1/client-sessions/${PEERS[0]}`, { session: SESSIONS.tls12 })).status).toBe(201);

    // And the new ring seals and opens.
    const sealed = await call("POST", "/v1/tickets", { session: SESSIONS.tls13, single_use: true });
    expect([sealed.status, sealed.body.key_id]).toEqual([201, ring.body.keys[0].id]);
    expect((await call("POST", "/v1/tickets/open", { ticket: sealed.body.ticket })).status).toBe(200);
    expect(code(await call("POST", "/v1/tickets/open", { ticket: sealed.body.ticket }))).toEqual([422, "ticket_replayed"]);
    for (const path of ["/v1/stats", "/metrics"]) expect((await call("GET", path)).status, path).toBe(200);

    expect(c.errorLines()).toEqual([]);
    await stop(c);
    expect(answers.filter((x) => x.status >= 500)).toEqual([]);
    expect(new Set(answers.map((x) => x.instance))).toEqual(new Set(["1", "2", "3"]));
  });
});

/** The routes that read what instance 1 stored. */
function readPaths(): string[] {
  return [
    ...Object.values(sessionIds).map((id) => `/v1/sessions/${id}`),
    `/v1/sessions/${state.generatedId}`,
    ...PEERS.map((p) => `/v1/client-sessions/${p}`),
  ];
}
