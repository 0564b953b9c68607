/**
 * A simulated edge location: its own app instance (own isolate caches) with a
 * clock the test moves. All locations share the same bindings (KV, Durable
 * Objects), as the fleet does.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import { createApp, type AppOptions } from "../../src/app.js";
import { ringObject } from "../../src/services.js";
import type { Env } from "../../src/env.js";
import type { KeyRingObject } from "../../src/keyring/object.js";
import type { TestToken } from "./fixtures.js";

/** Far in the future, so that alarms the ring sets for real time never fire during a test. */
export const T0 = 2_000_000_000;

export interface Location {
  /** Unix seconds; set it to move this location's clock. */
  now: number;
  call(method: string, path: string, options?: { token?: TestToken | (string & {}); body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  json<T = any>(method: string, path: string, options?: { token?: TestToken | (string & {}); body?: unknown }): Promise<{ status: number; body: T }>;
}

/**
 * Durable Object storage is shared by the tests of a file, so each test gets
 * its own ring object, named after the test; locations in one test share it.
 */
export function testRingName(): string {
  return `ring:${expect.getState().currentTestName ?? "default"}`;
}

export function testRing() {
  return ringObject(env as unknown as Env, testRingName());
}

/** The test's ring's key vault: where its material lives. */
export function testVault() {
  return env.KEY_VAULT.get(env.KEY_VAULT.idFromName(testRingName()));
}

/**
 * What the platform does at a key event: the ring object's alarm fires at
 * `now` (unix seconds), maintains the ring and publishes it to the read
 * tier, where locations read it on their next refresh.
 */
export async function ringAlarmAt(now: number, stub: DurableObjectStub<KeyRingObject> = testRing()): Promise<void> {
  await runInDurableObject(stub, (obj: KeyRingObject) => void (obj.clock = () => now * 1000));
  await runDurableObjectAlarm(stub);
}

/** The default JWKS fetch of test apps: tests never reach the network; those that need a remote JWKS serve one. */
export const noNetwork: NonNullable<AppOptions["jwksFetch"]> = () => Promise.reject(new TypeError("no network in tests"));

let locations = 0;

export function location(start = T0, options: { env?: Partial<Env>; ringName?: string; jwksFetch?: AppOptions["jwksFetch"]; region?: AppOptions["region"] } = {}): Location {
  const loc = { now: start } as Location;
  // Each location its own Cache API, as each data center has (the ring's read tier caches there).
  const cache = caches.open(`location-${++locations}`);
  const app = createApp({ clock: () => loc.now * 1000, ringName: options.ringName ?? testRingName(), jwksFetch: options.jwksFetch ?? noNetwork, ringCache: () => cache, region: options.region });
  const envOverrides = options.env ?? {};
  const bindings = { ...(env as unknown as Env), ...envOverrides };
  loc.call = (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === "string" ? options.body : JSON.stringify(options.body);
      headers["content-type"] ??= "application/json";
    }
    return Promise.resolve(app.request(path, { method, headers, body }, bindings));
  };
  loc.json = async (method, path, options) => {
    const res = await loc.call(method, path, options);
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined };
  };
  return loc;
}

export const TLS12_SESSION = {
  version: "TLSv1.2",
  cipher_suite: 49195,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
  extended_master_secret: true,
  server_name: "resume.example-a.com",
};
