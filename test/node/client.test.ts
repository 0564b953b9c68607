/**
 * The typed client (src/client) against a scripted local HTTP server: the
 * deadline that turns a slow service into a miss, retries only where a call
 * is idempotent, the service's error codes, and the requests it sends. The
 * client against the real worker is test/e2e/client.test.ts.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ClientError, ResumptionClient, sessionIdHex, toBase64url, type FetchLike } from "../../src/client/index.js";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

let server: Server;
let base = "";
let handlers: Handler[] = [];
let seen: Seen[] = [];
const open = new Set<ServerResponse>();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => (body += d));
    req.on("end", () => {
      const s: Seen = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(s);
      open.add(res);
      res.on("close", () => open.delete(res));
      const handler = handlers.shift() ?? ((_r, w) => json(w, 500, { error: { code: "internal_error", message: "no handler scripted" } }));
      handler(s, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(() => {
  for (const res of open) res.destroy();
  handlers = [];
  seen = [];
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

const client = (options: Partial<ConstructorParameters<typeof ResumptionClient>[0]> = {}) => new ResumptionClient({ baseUrl: base, token: "tok", ...options });

const STORED = { session: { opaque: "AAEC", server_name: "a.example" }, session_id: "ab", created_at: 1, expires_at: 301 };

describe("the deadline", () => {
  it("a service that answers too late is a timeout miss, at the default 100 ms", async () => {
    handlers.push(() => {}); // never answers
    const started = performance.now();
    const r = await client({ retries: 0 }).getSession("ab");
    const elapsed = performance.now() - started;
    expect(r.ok).toBe(false);
    expect(!r.ok && r.error.code).toBe("timeout");
    expect(!r.ok && r.error.unavailable).toBe(true);
    expect(elapsed).toBeGreaterThanOrEqual(95);
    expect(elapsed).toBeLessThan(1000); // generous: the suite shares two cores
  });

  it("covers a body that stops half way", async () => {
    handlers.push((_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"session": ');
    });
    const r = await client({ timeout: 150 }).getSession("ab");
    expect(!r.ok && r.error.code).toBe("timeout");
  });

  it("holds even when the fetch ignores its abort signal", async () => {
    const hang: FetchLike = () => new Promise(() => {});
    const started = performance.now();
    const r = await client({ fetch: hang, timeout: 50 }).getSession("ab");
    expect(!r.ok && r.error.code).toBe("timeout");
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("is settable per client and per call", async () => {
    handlers.push((_req, res) => setTimeout(() => json(res, 200, STORED), 150));
    const r = await client({ timeout: 50 }).getSession("ab", { timeout: 1000 });
    expect(r.ok).toBe(true);
  });

  it("the caller can abort", async () => {
    handlers.push(() => {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const r = await client({ timeout: 1000 }).getSession("ab", { signal: controller.signal });
    expect(!r.ok && r.error.code).toBe("aborted");
  });
});

describe("retries", () => {
  it("idempotent calls retry a 503 within the deadline", async () => {
    handlers.push((_q, res) => json(res, 503, { error: { code: "store_unavailable", message: "try again" } }), (_q, res) => json(res, 200, STORED));
    const r = await client({ timeout: 1000 }).getSession("ab");
    expect(r.ok && r.value.session.server_name).toBe("a.example");
    expect(seen).toHaveLength(2);
  });

  it("a PUT and a DELETE are retried too (the same request twice has one effect)", async () => {
    handlers.push(
      (_q, res) => res.destroy(),
      (_q, res) => json(res, 201, { session_id: "ab", created_at: 1, expires_at: 301 }),
      (_q, res) => json(res, 502, {}),
      (_q, res) => res.writeHead(204).end(),
    );
    const c = client({ timeout: 1000 });
    expect((await c.putSession("ab", { opaque: "AAEC" })).ok).toBe(true);
    expect((await c.deleteSession("ab")).ok).toBe(true);
    expect(seen.map((s) => s.method)).toEqual(["PUT", "PUT", "DELETE", "DELETE"]);
  });

  it("calls that are not idempotent are never retried: opening a ticket (single use), sealing, creating, taking, rotating", async () => {
    const c = client({ timeout: 1000, retries: 3 });
    const unavailable = (_q: Seen, res: ServerResponse) => json(res, 503, { error: { code: "keyring_unavailable", message: "no" } });
    for (const call of [
      () => c.openTicket("AQ"),
      () => c.sealTicket({ session: { opaque: "AAEC" } }),
      () => c.createSession({ opaque: "AAEC" }),
      () => c.takeSession("ab"),
      () => c.rotateKeys(),
      () => c.flushSessions(),
    ]) {
      seen = [];
      handlers = [unavailable, unavailable];
      const r = await call();
      expect(!r.ok && r.error.code).toBe("keyring_unavailable");
      expect(!r.ok && r.error.attempts).toBe(1);
      expect(seen).toHaveLength(1);
    }
  });

  it("gives up with network_error when nothing listens", async () => {
    const dead = new ResumptionClient({ baseUrl: "http://127.0.0.1:9", token: "t", timeout: 2000 });
    const r = await dead.getKeys();
    expect(!r.ok && r.error.code).toBe("network_error");
    expect(!r.ok && r.error.attempts).toBe(2);
  });
});

describe("errors carry the service's codes", () => {
  it("a 404 session_not_found, a 422 ticket code, a 409, a 429 with Retry-After", async () => {
    handlers.push(
      (_q, res) => json(res, 404, { error: { code: "session_not_found", message: "no session is stored under this id" } }),
      (_q, res) => json(res, 422, { error: { code: "ticket_expired", message: "the ticket's lifetime has ended" } }),
      (_q, res) => json(res, 409, { error: { code: "session_exists", message: "another session" } }),
      (_q, res) => json(res, 429, { error: { code: "write_rate_limited", message: "1/s" } }, { "retry-after": "1" }),
      (_q, res) => json(res, 400, { error: { code: "session_invalid", message: "session.server_name: bad", field: "session.server_name" } }),
    );
    const c = client({ timeout: 1000 });
    const notFound = await c.getSession("ab");
    expect(!notFound.ok && [notFound.error.code, notFound.error.status, notFound.error.unavailable]).toEqual(["session_not_found", 404, false]);
    const expired = await c.openTicket("AQ");
    expect(!expired.ok && expired.error.code).toBe("ticket_expired");
    expect(!expired.ok && expired.error).toBeInstanceOf(ClientError);
    const exists = await c.putSession("ab", { opaque: "AAEC" });
    expect(!exists.ok && exists.error.code).toBe("session_exists");
    const limited = await c.deleteSession("ab");
    expect(!limited.ok && [limited.error.code, limited.error.retryAfter]).toEqual(["write_rate_limited", 1]);
    const invalid = await c.putSession("ab", { opaque: "AAEC" });
    expect(!invalid.ok && [invalid.error.code, invalid.error.field]).toEqual(["session_invalid", "session.server_name"]);
  });

  it("an error page that is not the service's is http_error; a 2xx that is not JSON is invalid_response", async () => {
    handlers.push(
      (_q, res) => res.writeHead(502, { "content-type": "text/html" }).end("<h1>Bad gateway</h1>"),
      (_q, res) => res.writeHead(502, { "content-type": "text/html" }).end("<h1>Bad gateway</h1>"),
      (_q, res) => res.writeHead(200, { "content-type": "text/plain" }).end("ok"),
    );
    const c = client({ timeout: 1000 });
    const r = await c.getKeys();
    expect(!r.ok && [r.error.code, r.error.status, r.error.unavailable]).toEqual(["http_error", 502, true]);
    const bad = await c.stats();
    expect(!bad.ok && bad.error.code).toBe("invalid_response");
  });

  it("refuses a malformed session id or peer without a request", async () => {
    const c = client();
    for (const r of [await c.getSession(""), await c.getSession("AB"), await c.getSession(new Uint8Array(33)), await c.getClientSession("a b:1")]) {
      expect(!r.ok && r.error.code).toBe("invalid_argument");
    }
    expect(seen).toHaveLength(0);
  });
});

describe("requests", () => {
  it("each route's method, path, headers and body", async () => {
    const c = client({ timeout: 1000, headers: { "user-agent": "t/1" } });
    const ok = (status: number, body?: unknown) => (_q: Seen, res: ServerResponse) => (body === undefined ? res.writeHead(status).end() : json(res, status, body));
    handlers.push(
      ok(201, { session_id: "0a0b", created_at: 1, expires_at: 2 }),
      ok(200, STORED),
      ok(200),
      ok(404),
      ok(204),
      ok(201, { peer: "origin.example:443/sni.example", created_at: 1, expires_at: 2 }),
      ok(200, { keys: [] }),
      ok(200, { flushed: 3 }),
    );
    const id = Buffer.from([10, 11]);
    expect((await c.putSession(id, { opaque: toBase64url(Buffer.from("der")), server_name: "a.example" }, { timeout: 60 })).ok).toBe(true);
    expect((await c.getSession("0a0b")).ok).toBe(true);
    const has = await c.hasSession("0a0b");
    expect(has.ok && has.value).toBe(true);
    const hasNot = await c.hasSession("0a0c");
    expect(hasNot.ok && hasNot.value).toBe(false);
    expect((await c.deleteSession("0a0b")).ok).toBe(true);
    expect((await c.putClientSession("origin.example:443/sni.example", { opaque: "AAEC" })).ok).toBe(true);
    expect((await c.exportKeys("haproxy", { slots: 3 })).ok).toBe(true);
    const flushed = await c.flushSessions({ before: 0 });
    expect(flushed.ok && flushed.value.flushed).toBe(3);

    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual([
      "PUT /v1/sessions/0a0b",
      "GET /v1/sessions/0a0b",
      "HEAD /v1/sessions/0a0b",
      "HEAD /v1/sessions/0a0c",
      "DELETE /v1/sessions/0a0b",
      "PUT /v1/client-sessions/origin.example:443/sni.example",
      "GET /v1/keys/export?format=haproxy&slots=3",
      "POST /v1/sessions/flush",
    ]);
    expect(JSON.parse(seen[0]!.body)).toEqual({ session: { opaque: "ZGVy", server_name: "a.example" }, timeout: 60 });
    expect(seen[0]!.headers).toMatchObject({ authorization: "Bearer tok", "content-type": "application/json", "user-agent": "t/1" });
    expect(seen[1]!.headers["content-type"]).toBeUndefined();
    expect(JSON.parse(seen[7]!.body)).toEqual({ before: 0 });
  });

  it("session ids: lowercase hex or 1 to 32 bytes", () => {
    expect(sessionIdHex(new Uint8Array([0, 255]))).toBe("00ff");
    expect(sessionIdHex("00ff")).toBe("00ff");
    expect(sessionIdHex("00FF")).toBeUndefined();
    expect(sessionIdHex("0")).toBeUndefined();
    expect(sessionIdHex(new Uint8Array(0))).toBeUndefined();
  });
});

describe("runs anywhere", () => {
  it("bundles for a neutral platform from the client and the core's encoding only: no Node, Workers or package imports", async () => {
    const result = await esbuild.build({
      entryPoints: [fileURLToPath(new URL("../../src/client/index.ts", import.meta.url))],
      bundle: true,
      format: "esm",
      platform: "neutral",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = Object.keys(result.metafile.inputs).sort();
    expect(inputs).toEqual(["src/client/client.ts", "src/client/errors.ts", "src/client/index.ts", "src/core/encoding.ts"]);
    const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
    expect(imports).toEqual([]);
  });
});
