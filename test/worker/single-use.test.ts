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
