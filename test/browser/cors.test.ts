/**
 * CORS from a real browser: the worker under Miniflare (test/e2e/service.ts)
 * with CORS_ORIGINS naming one page origin, and two pages served from
 * 127.0.0.1 on ephemeral ports, one on that origin and one on another. Both
 * run the typed client (src/client, bundled for the browser with esbuild:
 * test/browser/client-page.ts) against the worker in Debian's Chromium
 * (playwright-core). The allowed page seals, opens and reads keys; the other
 * is stopped by the browser at the preflight, before any call reaches a
 * route. Runs in the node project; Chromium is required (no skip).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type Service } from "../e2e/service.js";
import type { CallOutcome } from "./client-page.js";
import { launchChromium } from "./launch.js";

const SCRIPT = fileURLToPath(new URL("./client-page.ts", import.meta.url));
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>esr client</title></head>
<body><script type="module" src="/client.js"></script></body></html>`;

let service: Service | undefined;
let browser: Browser | undefined;
const pages: Server[] = [];
let allowedOrigin = "";
let otherOrigin = "";
let setupError: Error | undefined;

/** A static server on 127.0.0.1 for the page and its script: one origin. */
async function pageServer(js: Uint8Array): Promise<string> {
  const server = createServer((req, res) => {
    if (req.url === "/") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" }).end(PAGE);
    } else if (req.url === "/client.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" }).end(js);
    } else {
      res.writeHead(404).end();
    }
  });
  pages.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  try {
    const built = await esbuild.build({ entryPoints: [SCRIPT], bundle: true, format: "esm", platform: "browser", target: "es2022", write: false, logLevel: "silent" });
    const js = built.outputFiles[0]!.contents;
    allowedOrigin = await pageServer(js);
    otherOrigin = await pageServer(js);
    service = await startService({
      grants: { page: { scopes: ["tickets", "keys", "sessions"] } },
      vars: { CORS_ORIGINS: JSON.stringify([allowedOrigin]) },
    });
    browser = await launchChromium();
  } catch (e) {
    setupError = e instanceof Error ? e : new Error(String(e));
  }
}, 60_000);

afterAll(async () => {
  // Each on its own, so one failing does not leave the others running.
  try {
    await browser?.close();
  } finally {
    try {
      await service?.stop();
    } finally {
      for (const server of pages) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    }
  }
});

/** Opens the page of `origin` and runs the client in it against the worker. */
async function runClient(origin: string): Promise<{ results: CallOutcome[]; console: string[] }> {
  const page: Page = await browser!.newPage();
  const messages: string[] = [];
  page.on("pageerror", (e) => messages.push(`pageerror: ${e.message}`));
  page.on("console", (m) => messages.push(`console.${m.type()}: ${m.text()}`));
  try {
    await page.goto(`${origin}/`, { waitUntil: "load", timeout: 20_000 });
    await page.waitForFunction(() => (globalThis as unknown as Record<string, unknown>).__clientReady === true, undefined, { timeout: 20_000 });
    const results = await page.evaluate(
      ([url, token]) => ((globalThis as unknown as Record<string, unknown>).__useClient as (u: string, t: string) => Promise<CallOutcome[]>)(url, token),
      [service!.url, service!.tokens.page!] as const,
    );
    return { results, console: messages };
  } finally {
    await page.close();
  }
}

/** The worker's request log lines (one JSON object per request) from the `from`-th line on. */
function requestLines(from = 0): { method: string; route: string; status: number }[] {
  return service!
    .logs()
    .split("\n")
    .filter((l) => l.includes('"event":"request"'))
    .slice(from)
    .map((l) => JSON.parse(l.slice(l.indexOf("{"))));
}

/** Waits until the worker has logged a request to `route` beyond the first `from` lines (the log arrives over a pipe). */
async function logged(route: string, from: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (requestLines(from).some((l) => l.route === route)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the worker never logged ${route}:\n${service!.logs().slice(-3000)}`);
}

describe("CORS in Chromium", () => {
  it("lets a page on an allowed origin use the typed client against the worker", async () => {
    if (setupError) throw setupError;
    const { results, console: messages } = await runClient(allowedOrigin);
    expect(results).toEqual([
      { call: "sealTicket", ok: true, status: 201, value: 600 },
      { call: "openTicket", ok: true, status: 200, value: "browser.example.com" },
      // The service's own code reached the page: the error answer carries the CORS headers too.
      { call: "openTicket(tampered)", ok: false, status: 422, code: "ticket_invalid" },
      { call: "getKeys", ok: true, status: 200, value: true },
      { call: "hasSession", ok: true, status: 404 },
    ]);
    expect(messages.filter((m) => /CORS|pageerror/.test(m))).toEqual([]);
  });

  it("blocks a page on another origin at the preflight: no call reaches a route", async () => {
    if (setupError) throw setupError;
    const before = requestLines().length;
    const { results, console: messages } = await runClient(otherOrigin);
    expect(results.map((r) => [r.call, r.ok, r.code])).toEqual([
      ["sealTicket", false, "network_error"],
      ["openTicket", false, "network_error"],
      ["openTicket(tampered)", false, "network_error"],
      ["getKeys", false, "network_error"],
      ["hasSession", false, "network_error"],
    ]);
    // Chromium says why.
    expect(messages.some((m) => m.includes("has been blocked by CORS policy"))).toBe(true);
    // A request from here, after the page's, marks the end of its traffic in the log.
    expect((await fetch(`${service!.url}/openapi.json`)).status).toBe(200);
    await logged("/openapi.json", before);
    const pageTraffic = requestLines(before).filter((l) => l.route !== "/openapi.json");
    // Only preflights arrived (refused without a token, with no CORS headers): the browser sent nothing else.
    expect(pageTraffic.length).toBeGreaterThan(0);
    expect(pageTraffic.filter((l) => l.method !== "OPTIONS")).toEqual([]);
  });
});
