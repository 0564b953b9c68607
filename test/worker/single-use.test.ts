import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decodeBase64url, parseTicketHeader } from "../../src/core/index.js";
import type { Env } from "../../src/env.js";
import { shardFor } from "../../src/replay/guard.js";
import { ticketUseId } from "../../src/tickets/identity.js";
import type { ReplayGuardObject } from "../../src/replay/object.js";
import { unreachableGuard } from "./faults.js";
import { T0, TLS12_SESSION, location, type Location } from "./harness.js";

const TLS13_SESSION = {
  version: "TLSv1.3",
  cipher_suite: 4865,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  server_name: "Resume.Example-A.com",
  alpn: "h2",
  ticket_age_add: 0xfffff000,
  max_early_data: 16384,
};

const seal = (loc: Location, body: object) => loc.json("POST", "/v1/tickets", { token: "alpha-tickets", body });
const open = (loc: Location, body: object) => loc.json("POST", "/v1/tickets/open", { token: "alpha-tickets", body });

function guardOf(ticket: string) {
  const header = parseTicketHeader(decodeBase64url(ticket)!);
  const id = ticketUseId("alpha", header);
  return { id, stub: env.REPLAY_GUARD.get(env.REPLAY_GUARD.idFromName(`replay:${shardFor(id, 32)}`)) };
}

describe("single-use tickets", () => {
  it("open exactly once when 50 locations race", async () => {
    const issuer = location();
    const { body } = await seal(issuer, { session: TLS12_SESSION, single_use: true });
    const locations = Array.from({ length: 50 }, () => location(T0 + 1));
    const results = await Promise.all(locations.map((loc) => open(loc, { ticket: body.ticket })));
    const ok = results.filter((r) => r.status === 200);
    expect(ok).toHaveLength(1);
    expect(ok[0]!.body.single_use).toBe(true);
    const refused = results.filter((r) => r.status === 422).map((r) => r.body.error.code);
    expect(refused).toEqual(Array(49).fill("ticket_replayed"));
    // And stays used.
    expect((await open(issuer, { ticket: body.ticket })).body.error.code).toBe("ticket_replayed");
  });

  it("forget a used ticket once it would have expired anyway", async () => {
    const loc = location();
    const { body } = await seal(loc, { session: TLS12_SESSION, single_use: true, lifetime: 60 });
    expect((await open(loc, { ticket: body.ticket })).status).toBe(200);
    const { id, stub } = guardOf(body.ticket);
    const stored = (when: number) =>
      runInDurableObject(stub, (obj: ReplayGuardObject, state) => {
        obj.clock = () => when * 1000;
        return state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM used WHERE id = ?", id).one().n;
      });
    expect(await stored(T0 + 59)).toBe(1);
    expect(await stored(T0 + 60)).toBe(1);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stored(T0 + 60)).toBe(0);
  });

  it("are refused, never accepted twice, when the guard is unreachable; ordinary tickets keep working", async () => {
    const healthy = location();
    const single = await seal(healthy, { session: TLS12_SESSION, single_use: true });
    const ordinary = await seal(healthy, { session: TLS12_SESSION });
    const outage = location(T0 + 1, { env: { REPLAY_GUARD: unreachableGuard } });
    const refused = await outage.call("POST", "/v1/tickets/open", { token: "alpha-tickets", body: { ticket: single.body.ticket } });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(((await refused.json()) as any).error.code).toBe("replay_guard_unavailable");
    const fine = await open(outage, { ticket: ordinary.body.ticket });
    expect([fine.status, fine.body.single_use]).toEqual([200, false]);
    // The refused attempt did not use the ticket up.
    expect((await open(healthy, { ticket: single.body.ticket })).status).toBe(200);
  });
});

describe("TLS 1.3 resumption rules", () => {
  it("accept a ticket age within the window and report the skew", async () => {
    const loc = location();
    const { body } = await seal(loc, { session: TLS13_SESSION });
    loc.now = T0 + 30;
    // The client's view: 30.5 s, obfuscated with ticket_age_add (mod 2^32).
    const obfuscated = (30_500 + TLS13_SESSION.ticket_age_add) % 2 ** 32;
    const res = await open(loc, { ticket: body.ticket, obfuscated_ticket_age: obfuscated });
    expect(res.status).toBe(200);
    expect(res.body.ticket_age).toEqual({ client_ms: 30_500, server_ms: 30_000, skew_ms: 500, window_ms: 10_000 });
  });

  it("refuse a ticket age outside the window, with the measured skew", async () => {
    const loc = location();
    const { body } = await seal(loc, { session: TLS13_SESSION });
    loc.now = T0 + 100;
    for (const clientMs of [89_999, 110_001]) {
      const obfuscated = (clientMs + TLS13_SESSION.ticket_age_add) % 2 ** 32;
      const res = await open(loc, { ticket: body.ticket, obfuscated_ticket_age: obfuscated });
      expect([res.status, res.body.error.code]).toEqual([422, "ticket_age_mismatch"]);
      expect(res.body.error.details.skew_ms).toBe(clientMs - 100_000);
    }
    // Exactly at the edge of the window is inside it.
    const edge = (110_000 + TLS13_SESSION.ticket_age_add) % 2 ** 32;
    expect((await open(loc, { ticket: body.ticket, obfuscated_ticket_age: edge })).status).toBe(200);
  });

  it("ignore ticket age when the session carries no ticket_age_add", async () => {
    const loc = location();
    const { body } = await seal(loc, { session: TLS12_SESSION });
    const res = await open(loc, { ticket: body.ticket, obfuscated_ticket_age: 12345 });
    expect(res.status).toBe(200);
    expect(res.body.ticket_age).toBeUndefined();
  });

  it("refuse another server_name, comparing DNS names case-insensitively", async () => {
    const loc = location();
    const { body } = await seal(loc, { session: TLS13_SESSION });
    expect((await open(loc, { ticket: body.ticket, server_name: "RESUME.example-a.COM" })).status).toBe(200);
    const other = await open(loc, { ticket: body.ticket, server_name: "other.example-a.com" });
    expect([other.status, other.body.error.code]).toEqual([422, "sni_mismatch"]);
    const bad = await open(loc, { ticket: body.ticket, server_name: "not a host" });
    expect([bad.status, bad.body.error.code]).toEqual([400, "invalid_request"]);
  });

  it("never promise a lifetime above 604800 s or the context's", async () => {
    const loc = location();
    const res = await seal(loc, { session: TLS13_SESSION, lifetime: 604_800 });
    expect(res.body.lifetime_hint).toBe(7200);
    const tooLong = await seal(loc, { session: TLS13_SESSION, lifetime: 604_801 });
    expect([tooLong.status, tooLong.body.error.code]).toEqual([400, "invalid_request"]);
  });
});

describe("replay-guard regions", () => {
  /** The guard's namespace, recording which shard (name and location hint) each call reached. */
  function recordingGuard() {
    const calls: { name: string; hint: string | undefined; method: string }[] = [];
    const names = new Map<string, string>();
    const namespace = {
      idFromName: (name: string) => {
        const id = env.REPLAY_GUARD.idFromName(name);
        names.set(id.toString(), name);
        return id;
      },
      get: (id: DurableObjectId, options?: { locationHint?: string }) => {
        const stub = env.REPLAY_GUARD.get(id, options as DurableObjectNamespaceGetDurableObjectOptions);
        const record = (method: "consume" | "purgeLater") => (...args: unknown[]) => {
          calls.push({ name: names.get(id.toString())!, hint: options?.locationHint, method });
          return (stub[method] as (...a: unknown[]) => unknown)(...args);
        };
        return { consume: record("consume"), purgeLater: record("purgeLater") };
      },
    } as unknown as Env["REPLAY_GUARD"];
    return { calls, namespace };
  }

  it("judge a ticket's one use in the region it was issued in, from every region, exactly once", async () => {
    const guard = recordingGuard();
    const paris = location(T0, { region: "weur", env: { REPLAY_GUARD: guard.namespace } });
    const { body } = await seal(paris, { session: TLS12_SESSION, single_use: true });
    const regions = ["weur", "enam", "apac"] as const;
    const racers = Array.from({ length: 30 }, (_, i) => location(T0 + 1, { region: regions[i % 3], env: { REPLAY_GUARD: guard.namespace } }));
    const results = await Promise.all(racers.map((loc) => open(loc, { ticket: body.ticket })));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    expect(results.filter((r) => r.status === 422).map((r) => r.body.error.code)).toEqual(Array(29).fill("ticket_replayed"));
    // Every racer asked the same object: a weur shard, created with weur's hint.
    expect(new Set(guard.calls.map((c) => c.name)).size).toBe(1);
    expect(guard.calls[0]!.name).toMatch(/^replay:weur:\d+$/);
    expect(new Set(guard.calls.map((c) => c.hint))).toEqual(new Set(["weur"]));
  });

  it("judge a take in the region its session was stored in, and purge near the caller", async () => {
    const guard = recordingGuard();
    const sydney = location(T0, { region: "oc", env: { REPLAY_GUARD: guard.namespace } });
    const id = "5eed".repeat(8);
    expect((await sydney.json("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION } })).status).toBe(201);
    const london = location(T0 + 2, { region: "weur", env: { REPLAY_GUARD: guard.namespace } });
    expect((await london.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" })).status).toBe(200);
    expect(guard.calls.filter((c) => c.method === "consume").map((c) => c.name)).toEqual([expect.stringMatching(/^replay:oc:\d+$/)]);
  });

  it("refuse replays from the isolate's memory: one call to the guard per isolate", async () => {
    const guard = recordingGuard();
    const loc = location(T0, { region: "enam", env: { REPLAY_GUARD: guard.namespace } });
    const { body } = await seal(loc, { session: TLS12_SESSION, single_use: true });
    expect((await open(loc, { ticket: body.ticket })).status).toBe(200);
    for (let i = 0; i < 20; i++) expect((await open(loc, { ticket: body.ticket })).body.error.code).toBe("ticket_replayed");
    expect(guard.calls).toHaveLength(1);
    // Another isolate asks once, and then it too remembers.
    const other = location(T0, { region: "enam", env: { REPLAY_GUARD: guard.namespace } });
    for (let i = 0; i < 5; i++) expect((await open(other, { ticket: body.ticket })).body.error.code).toBe("ticket_replayed");
    expect(guard.calls).toHaveLength(2);
  });

  it("guard tickets issued without a region (before regions, or where none is known) in the region-less shards", async () => {
    const guard = recordingGuard();
    const loc = location(T0, { env: { REPLAY_GUARD: guard.namespace } });
    const { body } = await seal(loc, { session: TLS12_SESSION, single_use: true });
    expect((await open(location(T0, { region: "apac", env: { REPLAY_GUARD: guard.namespace } }), { ticket: body.ticket })).status).toBe(200);
    expect(guard.calls[0]!.name).toMatch(/^replay:\d+$/);
    expect(guard.calls[0]!.hint).toBeUndefined();
  });
});
