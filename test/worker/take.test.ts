import { describe, expect, it } from "vitest";
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
    expect(results.filter((r) => r.status === 404).map((r) => r.body.error.code)).toEqual(Array(49).fill("session_not_found"));
    // Gone from the store: a fresh location finds nothing.
    const after = location(T0 + 3);
    expect((await after.json("GET", `/v1/sessions/${ID}`, { token: "alpha-sessions" })).status).toBe(404);
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

  it("answers 404 for nothing stored, 400 for a bad id, 403 without the scope", async () => {
    const loc = location();
    expect((await loc.json("POST", `/v1/sessions/${"ee".repeat(32)}/take`, { token: "alpha-sessions" })).body.error.code).toBe("session_not_found");
    expect((await loc.json("POST", `/v1/sessions/${"ee".repeat(33)}/take`, { token: "alpha-sessions" })).body.error.code).toBe("invalid_session_id");
    expect((await loc.json("POST", `/v1/sessions/${"ee".repeat(32)}/take`, { token: "alpha-tickets" })).body.error.code).toBe("forbidden");
  });
});
