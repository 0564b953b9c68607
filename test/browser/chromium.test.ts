/**
 * The core in a real browser: esbuild bundles src/core with the ticket vectors
 * and an in-page runner (test/browser/runner.ts), a local HTTP server on
 * 127.0.0.1 serves it (a secure context, so WebCrypto is there), and Debian's
 * Chromium runs it headless through playwright-core. Runs in the node project.
 *
 * Chromium is required: CI installs it, and a missing binary fails this test
 * rather than skipping it.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import type { Browser } from "playwright-core";
import { launchChromium } from "./launch.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CheckResult } from "./runner.js";

const RUNNER = fileURLToPath(new URL("./runner.ts", import.meta.url));

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>esr core</title></head>
<body><script type="module" src="/runner.js"></script></body></html>`;

let server: Server | undefined;
let browser: Browser | undefined;
let origin = "";
let bundleBytes = 0;
/** A setup failure, rethrown by the test so that it is reported as failed, not skipped. */
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    await setUp();
  } catch (e) {
    setupError = e instanceof Error ? e : new Error(String(e));
  }
}, 60_000);

async function setUp(): Promise<void> {
  const built = await esbuild.build({
    entryPoints: [RUNNER],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    write: false,
    logLevel: "silent",
  });
  const js = built.outputFiles[0]!.contents;
  bundleBytes = js.length;

  server = createServer((req, res) => {
    if (req.url === "/" || req.url === "/index.html") {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(PAGE);
    } else if (req.url === "/runner.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
      res.end(js);
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server!.once("error", reject);
    server!.listen(0, "127.0.0.1", resolve);
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  browser = await launchChromium();
}

afterAll(async () => {
  // Each step on its own, so one failing does not leave the other running.
  try {
    await browser?.close();
  } finally {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
  }
});

describe("src/core in Chromium", () => {
  it("runs the ticket vectors and random round trips", async () => {
    if (setupError) throw setupError;
    const page = await browser!.newPage();
    const pageErrors: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(`console.error: ${m.text()}`);
    });
    try {
      await page.goto(`${origin}/`, { waitUntil: "load", timeout: 20_000 });
      await page.waitForFunction(() => (globalThis as unknown as Record<string, unknown>).__coreChecksReady === true, undefined, {
        timeout: 20_000,
      });
      const env = await page.evaluate(() => ({ secure: globalThis.isSecureContext, ua: navigator.userAgent }));
      const results = await page.evaluate(
        () => ((globalThis as unknown as Record<string, unknown>).__runCoreChecks as () => Promise<CheckResult[]>)(),
      );
      console.log(`${env.ua}: ${results.length} checks, bundle ${bundleBytes} bytes`);
      expect(env.secure).toBe(true);
      expect(pageErrors).toEqual([]);
      expect(results.filter((r) => !r.ok)).toEqual([]);
      // Every vector ran, plus the secure-context check and the round trips.
      expect(results.filter((r) => r.name.startsWith("valid vector")).length).toBeGreaterThanOrEqual(6);
      expect(results.filter((r) => r.name.startsWith("invalid vector")).length).toBeGreaterThanOrEqual(4);
      expect(results.some((r) => r.name.startsWith("seal/open round trips"))).toBe(true);
    } finally {
      await page.close();
    }
  });
});
