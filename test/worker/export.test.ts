/**
 * GET /v1/keys/export: the ring's keys as TLS ticket keys for terminators.
 * Locations are simulated with injected clocks (harness.ts), so rotations
 * and expiries happen without sleeping.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { decodeBase64url, decodeHex, encodeHex } from "../../src/core/index.js";
import type { KeyRingObject } from "../../src/keyring/object.js";
import { deriveKek, unwrapKey } from "../../src/keyring/material.js";
import { T0, location, ringAlarmAt, testRing, testVault, type Location } from "./harness.js";
import { TEST_CONTEXTS, TEST_MASTER_KEY } from "./fixtures.js";

/** Tokens with single scopes, hashed into an API_TOKENS override (the shared fixtures have no stek-only token). */
const TOKENS = {
  "alpha-stek": { context: "alpha", scopes: ["stek"] },
  "alpha-admin": { context: "alpha", scopes: ["admin"] },
  "alpha-keys": { context: "alpha", scopes: ["keys"] },
  "alpha-tickets": { context: "alpha", scopes: ["tickets"] },
  "beta-stek": { context: "beta", scopes: ["stek"] },
} as const;
type Token = keyof typeof TOKENS;

async function sha256Hex(text: string): Promise<string> {
  return encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text))));
}

let apiTokens: string | undefined;
async function at(now = T0): Promise<Location> {
  apiTokens ??= JSON.stringify(Object.fromEntries(await Promise.all(Object.entries(TOKENS).map(async ([t, g]) => [await sha256Hex(t), g]))));
  return location(now, { env: { API_TOKENS: apiTokens, CONTEXTS: JSON.stringify(TEST_CONTEXTS) } });
}

interface ExportBody {
  format: string;
  context: string;
  now: number;
  key_bytes: number;
  slots: number;
  keys: { id: number; state: string; role: string; name: string; key: string; activates_at: number; deactivates_at: number; expires_at: number }[];
  files?: { name: string; encoding: string; content: string }[];
  dropped: number[];
  revision: string;
  next_change_at: number | null;
  refresh_after: number;
}

async function exportKeys(loc: Location, query: string, token: Token = "alpha-stek"): Promise<ExportBody> {
  const res = await loc.call("GET", `/v1/keys/export?${query}`, { token });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  return (await res.json()) as ExportBody;
}

/** GET /v1/keys fetches the ring: a location that jumped ahead sees the keys published meanwhile. */
/** The ring's alarm at the location's time (the key event), then the location reads the tier. */
async function refreshRing(loc: Location): Promise<void> {
  await ringAlarmAt(loc.now);
  expect((await loc.call("GET", "/v1/keys", { token: "alpha-keys" })).status).toBe(200);
}

const fromB64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The ring's raw key material, read from its key vault and unwrapped like the isolates do. */
async function ringMaterial(): Promise<Map<number, Uint8Array<ArrayBuffer>>> {
  const ids = await runInDurableObject(testRing(), (_obj: KeyRingObject, state) =>
    state.storage.sql.exec<{ id: number }>("SELECT id FROM keys").toArray().map((r) => r.id),
  );
  const wrapped = await testVault().load(ids);
  const kek = await deriveKek(decodeHex(TEST_MASTER_KEY)!);
  return new Map(await Promise.all([...wrapped].map(async ([id, w]) => [id, await unwrapKey(kek, id, w)] as const)));
}

/** HKDF-SHA-256(ring key, salt "", info "esr stek v1" NUL "<format>:<context>"), written out independently of src/. */
async function expectedStek(material: Uint8Array<ArrayBuffer>, format: string, context: string, length: number): Promise<Uint8Array> {
  const base = await crypto.subtle.importKey("raw", material, "HKDF", false, ["deriveBits"]);
  const info = new TextEncoder().encode(`esr stek v1\0${format}:${context}`);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info }, base, length * 8));
}

describe("GET /v1/keys/export", () => {
  it("needs the stek or admin scope: keys and tickets tokens are refused", async () => {
    const loc = await at();
    for (const token of ["alpha-keys", "alpha-tickets"] as const) {
      const res = await loc.json("GET", "/v1/keys/export?format=nginx80", { token });
      expect([res.status, res.body.error.code]).toEqual([403, "forbidden"]);
    }
    expect((await loc.call("GET", "/v1/keys/export?format=nginx80")).status).toBe(401);
    await exportKeys(loc, "format=nginx80", "alpha-stek");
    await exportKeys(loc, "format=nginx80", "alpha-admin");
  });

  it("refuses unknown formats, bad slot counts and unknown parameters, naming the field", async () => {
    const loc = await at();
    const cases: [string, string][] = [
      ["", "format"],
      ["format=apache", "format"],
      ["format=nginx80&slots=0", "slots"],
      ["format=nginx80&slots=17", "slots"],
      ["format=nginx80&slots=two", "slots"],
      ["format=node48&slots=2", "slots"],
      ["format=nginx80&keys=all", "keys"],
    ];
    for (const [query, field] of cases) {
      const res = await loc.json("GET", `/v1/keys/export?${query}`, { token: "alpha-stek" });
      expect([res.status, res.body.error.code, res.body.error.field], query).toEqual([400, "invalid_request", field]);
    }
  });

  it("nginx80: four key files, the active key first, the pending key next, padded with the active key", async () => {
    const loc = await at();
    const out = await exportKeys(loc, "format=nginx80");
    expect([out.format, out.context, out.key_bytes, out.slots, out.now]).toEqual(["nginx80", "alpha", 80, 4, T0]);
    const [active, pending] = out.keys;
    expect(out.keys.map((k) => [k.state, k.role])).toEqual([
      ["active", "encrypt"],
      ["pending", "decrypt"],
    ]);
    expect(pending!.activates_at).toBe(active!.deactivates_at);
    const files = out.files!.map((f) => fromB64(f.content));
    expect(out.files!.map((f) => [f.name, f.encoding])).toEqual([0, 1, 2, 3].map((i) => [`stek.${i}.key`, "base64"]));
    for (const f of files) expect(f).toHaveLength(80);
    expect(files[0]).toEqual(decodeBase64url(active!.key));
    expect(files[1]).toEqual(decodeBase64url(pending!.key));
    expect(files[2]).toEqual(files[0]);
    expect(files[3]).toEqual(files[0]);
    // The name is the first 16 bytes: what nginx writes in clear in each ticket.
    expect(active!.name).toBe(encodeHex(files[0]!.subarray(0, 16)));
    expect(out.dropped).toEqual([]);
    expect(out.next_change_at).toBe(active!.deactivates_at);
    expect(out.refresh_after).toBe(30); // cache_ttl
  });

  it("every location exports the same bytes: HKDF from the ring key with the format and context in the info", async () => {
    const paris = await at();
    const frankfurt = await at(T0 + 3);
    const a = await exportKeys(paris, "format=nginx80");
    const b = await exportKeys(frankfurt, "format=nginx80");
    expect(b.keys.map((k) => k.key)).toEqual(a.keys.map((k) => k.key));
    const material = await ringMaterial();
    for (const k of a.keys) {
      expect(decodeBase64url(k.key)).toEqual(await expectedStek(material.get(k.id)!, "nginx80", "alpha", 80));
    }
    const node = await exportKeys(paris, "format=node48");
    expect(decodeBase64url(node.keys[0]!.key)).toEqual(await expectedStek(material.get(node.keys[0]!.id)!, "node48", "alpha", 48));
    // Go: 32-byte keys, the active key first; the name is what crypto/tls (up to Go 1.20) writes in clear: SHA-512(key)[0:16].
    const go = await exportKeys(paris, "format=go");
    expect([go.key_bytes, go.slots, go.files]).toEqual([32, 4, undefined]);
    expect(go.keys.map((k) => k.role)).toEqual(["encrypt", "decrypt"]);
    for (const k of go.keys) {
      const key = await expectedStek(material.get(k.id)!, "go", "alpha", 32);
      expect(decodeBase64url(k.key)).toEqual(key);
      expect(k.name).toBe(encodeHex(new Uint8Array(await crypto.subtle.digest("SHA-512", Uint8Array.from(key))).subarray(0, 16)));
    }
  });

  it("no two formats or contexts share a key", async () => {
    const loc = await at();
    const seen = new Set<string>();
    for (const [format, token] of [
      ["nginx80", "alpha-stek"],
      ["nginx48", "alpha-stek"],
      ["haproxy", "alpha-stek"],
      ["node48", "alpha-stek"],
      ["go", "alpha-stek"],
      ["nginx80", "beta-stek"],
    ] as const) {
      const out = await exportKeys(loc, `format=${format}`, token);
      const active = out.keys.find((k) => k.role === "encrypt")!;
      const prefix = encodeHex(decodeBase64url(active.key)!.subarray(0, 32));
      expect(seen.has(prefix), `${format} ${token}`).toBe(false);
      seen.add(prefix);
    }
  });

  it("follows the ring through a rotation on schedule: nginx, HAProxy and Node orders", async () => {
    const loc = await at();
    const first = await exportKeys(loc, "format=nginx80");
    const [k1, k2] = first.keys;
    loc.now = k1!.deactivates_at + 1;
    await refreshRing(loc);
    const nginx = await exportKeys(loc, "format=nginx80");
    expect(nginx.keys.map((k) => [k.id, k.state, k.role])).toEqual([
      [k2!.id, "active", "encrypt"],
      [expect.any(Number), "pending", "decrypt"],
      [k1!.id, "retiring", "decrypt"],
    ]);
    expect(nginx.revision).not.toBe(first.revision);
    // The retiring key's bytes do not change with its state.
    expect(nginx.keys[2]!.key).toBe(k1!.key);
    const k3 = nginx.keys[1]!.id;

    const haproxy = await exportKeys(loc, "format=haproxy");
    const lines = haproxy.files![0]!.content.trimEnd().split("\n");
    expect(lines).toHaveLength(3);
    const byId = new Map(haproxy.keys.map((k) => [k.id, k]));
    const lineKey = (id: number) => btoa(String.fromCharCode(...decodeBase64url(byId.get(id)!.key)!));
    // Retiring, ACTIVE (penultimate: HAProxy encrypts with it), pending.
    expect(lines).toEqual([lineKey(k1!.id), lineKey(k2!.id), lineKey(k3)]);
    expect(haproxy.keys.map((k) => [k.id, k.role])).toEqual([
      [k1!.id, "decrypt"],
      [k2!.id, "encrypt"],
      [k3, "decrypt"],
    ]);

    const node = await exportKeys(loc, "format=node48");
    expect(node.keys.map((k) => k.id)).toEqual([k2!.id]);
    expect(node.files).toBeUndefined();

    // Once the first key expires it is gone from every export.
    loc.now = k1!.expires_at;
    const later = await exportKeys(loc, "format=nginx80");
    expect(later.keys.map((k) => k.id)).not.toContain(k1!.id);
  });

  it("a forced rotation: the successor encrypts, the old key still decrypts; a revoke drops every older key", async () => {
    const loc = await at();
    const [k1, k2] = (await exportKeys(loc, "format=nginx80")).keys;
    loc.now = T0 + 600; // the successor has been published for prepublish_lead
    const rotated = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-admin" });
    expect([rotated.status, rotated.body.activates_at]).toEqual([200, T0 + 600]);
    const after = await exportKeys(loc, "format=nginx80");
    expect(after.keys.map((k) => [k.id, k.role])).toEqual([
      [k2!.id, "encrypt"],
      [expect.any(Number), "decrypt"],
      [k1!.id, "decrypt"],
    ]);
    // It stops encrypting now but keeps its original expiry (docs/key-rotation.md).
    expect(after.keys[2]!.expires_at).toBe(k1!.expires_at);

    loc.now = T0 + 700;
    const revoked = await loc.json("POST", "/v1/keys/rotate", { token: "alpha-admin", body: { revoke: true } });
    expect(revoked.status).toBe(200);
    const out = await exportKeys(loc, "format=nginx80");
    expect(out.keys.map((k) => k.id)).not.toContain(k1!.id);
    expect(out.keys.map((k) => k.id)).not.toContain(k2!.id);
    expect(out.keys[0]!.role).toBe("encrypt");
  });

  it("fewer slots drop the oldest keys and say so; refresh_after points at the next key event", async () => {
    const loc = await at();
    const [k1, k2] = (await exportKeys(loc, "format=nginx80")).keys;
    loc.now = k1!.deactivates_at + 1;
    await refreshRing(loc);
    const out = await exportKeys(loc, "format=nginx48&slots=2");
    expect(out.keys.map((k) => k.id)[0]).toBe(k2!.id);
    expect(out.dropped).toEqual([k1!.id]);
    expect(out.files).toHaveLength(2);
    for (const f of out.files!) expect(fromB64(f.content)).toHaveLength(48);
    loc.now = k2!.deactivates_at - 7;
    const soon = await exportKeys(loc, "format=node48");
    expect([soon.next_change_at, soon.refresh_after]).toEqual([k2!.deactivates_at, 7]);
  });
});
