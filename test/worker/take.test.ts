import { describe, expect, it, vi } from "vitest";
import { T0, TLS12_SESSION, location } from "./harness.js";

const ID = "7a6b".repeat(8);

describe("POST /v1/sessions/{id}/take", () => {
  it("gives a stored session to exactly one of 50 racing locations, and removes it", async () => {
    const issuer = location();
    const put = await issuer.json("PUT", `/v1/sessions/${ID}`, { token: "alpha-sessions", body: { session: TLS12_SESSION, timeout: 600 } });
    expect(put.status).toBe(201);
    const racers = Array.from({ length: 50 }, () => location(T0 + 2));
    const results = await Promise.all(racers.map((loc) => loc.json("POST", `/v1/sessions/${ID}/take`, { token: "alpha-sessions" })));
    const won = results.filter((r) => r.status === 200);
    expect(won).toHaveLength(1);
    expect(won[0]!.body).toMatchObject({ session_id: ID, session: { master_secret: TLS12_SESSION.master_secret } });
    // The others were too late: the session they read was taken.
    expect(results.filter((r) => r.status !== 200).map((r) => [r.status, r.body.error.code])).toEqual(Array(49).fill([409, "session_taken"]));
    // Gone from the store once the removal that follows the answer has landed: a fresh location finds nothing.
    const after = location(T0 + 3);
    await vi.waitFor(async () => expect((await after.json("GET", `/v1/sessions/${ID}`, { token: "alpha-sessions" })).status).toBe(404));
    expect((await after.json("POST", `/v1/sessions/${ID}/take`, { token: "alpha-sessions" })).status).toBe(404);
  });

  it("can take a session stored again under the same id", async () => {
    const loc = location();
    const id = "01".repeat(16);
    await loc.json("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: TLS12_SESSION } });
    loc.now += 2;
    expect((await loc.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" })).status).toBe(200);
    loc.now += 2;
    const other = { ...TLS12_SESSION, master_secret: TLS12_SESSION.master_secret.replace("AAEC", "BBEC") };
    expect((await loc.json("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session: other } })).status).toBe(201);
    loc.now += 2;
    const second = await loc.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" });
    expect([second.status, second.body.session.master_secret]).toEqual([200, other.master_secret]);
  });

  it("never takes the same session twice, even stored again under its id", async () => {
    // A late retry of the PUT that stored a session, arriving after the take,
    // stores the same secret again: taking it again would resume it twice.
    const loc = location();
    const id = "02".repeat(16);
    const body = { session: { ...TLS12_SESSION, created_at: T0 } };
    expect((await loc.json("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body })).status).toBe(201);
    loc.now += 2;
    expect((await loc.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" })).status).toBe(200);
    // Stored again as it was, with other times, and with the same secret in other fields.
    const sameSecret = { ...TLS12_SESSION, extended_master_secret: false, server_name: "elsewhere.example-a.com", max_fragment_length: 512 };
    for (const [when, session] of [[T0 + 4, body.session], [T0 + 6, { ...TLS12_SESSION }], [T0 + 8, sameSecret]] as const) {
      loc.now = when;
      expect((await loc.json("PUT", `/v1/sessions/${id}`, { token: "alpha-sessions", body: { session } })).status).toBe(201);
      loc.now += 1;
      // Stored (a plain lookup finds it), but not to be taken again, from this location or another.
      expect((await loc.json("GET", `/v1/sessions/${id}`, { token: "alpha-sessions" })).status).toBe(200);
      for (const taker of [loc, location(loc.now)]) {
        const again = await taker.json("POST", `/v1/sessions/${id}/take`, { token: "alpha-sessions" });
        expect([again.status, again.body.error?.code]).toEqual([409, "session_taken"]);
      }
      await loc.call("DELETE", `/v1/sessions/${id}`, { token: "alpha-sessions" });
    }
  });

  it("answers 404 for nothing stored, 400 for a bad id, 403 without the scope", async () => {
    const loc = location();
    expect((await loc.json("POST", `/v1/sessions/${"ee".repeat(32)}/take`, { token: "alpha-sessions" })).body.error.code).toBe("session_not_found");
    expect((await loc.json("POST", `/v1/sessions/${"ee".repeat(33)}/take`, { token: "alpha-sessions" })).body.error.code).toBe("invalid_session_id");
    expect((await loc.json("POST", `/v1/sessions/${"ee".repeat(32)}/take`, { token: "alpha-tickets" })).body.error.code).toBe("forbidden");
  });
});
