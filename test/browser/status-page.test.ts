/**
 * The status page in Debian's Chromium (playwright-core): the Worker served
 * by Miniflare on 127.0.0.1 (test/e2e/service.ts), the page opened at /, a
 * token typed in, and the SVG timeline checked against GET /v1/keys. A
 * screenshot goes to test-results/status-page.png. Runs in the node project.
 * The script the page runs is the bundle of src/status/client as it is now.
 */
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./launch.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bundleStatusScript } from "../../scripts/status-script.mjs";
import { startService, type Service } from "../e2e/service.js";

const RESULTS = fileURLToPath(new URL("../../test-results/", import.meta.url));
const SCREENSHOT = `${RESULTS}status-page.png`;

let server: Service | undefined;
/** What the operator types (scopes keys and admin), a keys-only token, and the driver that makes traffic. */
let PAGE_TOKEN = "";
let KEYS_ONLY = "";
let DRIVER = "";
let browser: Browser | undefined;
let setupError: Error | undefined;

beforeAll(async () => {
  try {
    server = await startService({
      grants: {
        page: { scopes: ["keys", "admin"] },
        keysOnly: { scopes: ["keys"] },
        driver: { scopes: ["tickets", "sessions", "admin"] },
      },
    });
    [PAGE_TOKEN, KEYS_ONLY, DRIVER] = [server.tokens.page!, server.tokens.keysOnly!, server.tokens.driver!];
    browser = await launchChromium();
  } catch (e) {
    setupError = e instanceof Error ? e : new Error(String(e));
  }
}, 60_000);

afterAll(async () => {
  // Each on its own, so one failing does not leave the other running.
  try {
    await browser?.close();
  } finally {
    await server?.stop();
  }
});

async function call(path: string, token: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server!.url}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined && { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const SESSION = {
  version: "TLSv1.2",
  cipher_suite: 49195,
  master_secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v",
  server_name: "status.example.com",
};

/** Some traffic, and a forced rotation so that the ring has three keys to draw. */
async function exercise(): Promise<void> {
  const tickets: string[] = [];
  for (let i = 0; i < 3; i++) {
    const sealed = await call("/v1/tickets", DRIVER, { session: SESSION });
    expect(sealed.status).toBe(201);
    tickets.push(sealed.body.ticket);
  }
  expect((await call("/v1/tickets/open", DRIVER, { ticket: tickets[0] })).status).toBe(200);
  expect((await call("/v1/tickets/open", DRIVER, { ticket: tickets[1] })).status).toBe(200);
  expect((await call("/v1/tickets/open", DRIVER, { ticket: `${tickets[2]!.slice(0, -6)}AAAAAA` })).status).toBe(422);
  // The session store, where it is deployed: one stored session found, one unknown id missed.
  const stored = await call("/v1/sessions", DRIVER, { session: SESSION });
  if (stored.status !== 404) {
    expect(stored.status).toBe(201);
    expect((await call(`/v1/sessions/${stored.body.session_id}`, DRIVER)).status).toBe(200);
    expect((await call(`/v1/sessions/${"ab".repeat(32)}`, DRIVER)).status).toBe(404);
  }
  expect((await call("/v1/keys/rotate", DRIVER, {})).status).toBe(200);
}

/** Everything the page asks for, and every script or CSP error it reports. */
function watch(page: Page) {
  const problems: string[] = [];
  const requested: string[] = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // Chromium reports every 4xx answer as a console error; the page expects 401, 403 and 404 and says so itself.
    if (/^Failed to load resource: the server responded with a status of 40[134]/.test(m.text())) return;
    if (m.type() === "error" || m.type() === "warning") problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on("request", (r) => requested.push(r.url()));
  return { problems, requested };
}

async function submitToken(page: Page, token: string): Promise<void> {
  const before = await page.getAttribute("body", "data-updated");
  await page.fill("#token", token);
  await page.click("#auth button[type=submit]");
  await page.waitForFunction((b) => (globalThis as any).document.body.getAttribute("data-updated") !== b, before, { timeout: 20_000 });
}

describe("the status page in Chromium", () => {
  it("runs the script bundled from src/status/client as it is now", async () => {
    if (setupError) throw setupError;
    const html = await (await fetch(`${server!.url}/`)).text();
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]);
    expect(scripts).toEqual([await bundleStatusScript()]);
  });

  it("draws the key ring as a timeline and shows the counters", async () => {
    if (setupError) throw setupError;
    await exercise();
    const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
    const seen = watch(page);
    try {
      await page.goto(`${server!.url}/`, { waitUntil: "load", timeout: 20_000 });
      await page.waitForSelector("body[data-updated]", { timeout: 20_000 });
      // Without a token the page asks for one, and draws nothing.
      expect(await page.textContent("#ring-status")).toMatch(/token with scope keys/);
      expect(await page.locator("#timeline [data-key-id]").count()).toBe(0);

      await submitToken(page, PAGE_TOKEN);
      const ring = await call("/v1/keys", PAGE_TOKEN);
      expect(ring.status).toBe(200);
      const ids = (ring.body.keys as { id: number }[]).map((k) => String(k.id));
      expect(ids.length).toBeGreaterThanOrEqual(3);

      // One labeled row per key, in the ring's order, each with its state's segments.
      const rows = await page.$$eval("#timeline [data-key-id]", (els) =>
        els.map((g) => ({
          id: g.getAttribute("data-key-id"),
          state: g.getAttribute("data-state"),
          label: g.querySelector(".key-label")?.textContent ?? "",
          segments: [...g.querySelectorAll("rect.seg")].map((r) => r.getAttribute("class")),
        })),
      );
      expect(rows.map((r) => r.id)).toEqual(ids);
      for (const [i, row] of rows.entries()) {
        expect(row.label).toContain(`key ${ids[i]}`);
        expect(row.state).toBe(ring.body.keys[i].state);
        expect(row.segments.length).toBeGreaterThanOrEqual(1);
      }
      expect(rows.map((r) => r.state)).toContain("active");
      expect(rows.map((r) => r.state)).toContain("pending");
      const now = await page.$eval("#now-marker", (l) => ({ x: Number(l.getAttribute("x1")), at: Number(l.getAttribute("data-now")) }));
      expect(now.x).toBeGreaterThan(0);
      expect(Math.abs(now.at - ring.body.now)).toBeLessThan(60);
      expect(await page.textContent("#timeline")).toMatch(/now \d\d:\d\d/);

      // The counters from /metrics (this one isolate saw the traffic above).
      const counters = Object.fromEntries(
        await page.$$eval("#ticket-counters tr", (trs) => trs.map((tr) => [tr.querySelector("th")!.textContent, tr.querySelector("td")!.textContent])),
      );
      expect(counters["tickets sealed"]).toBe("3");
      expect(counters["tickets opened"]).toBe("3");
      expect(counters["resumed from the ticket"]).toBe("2");
      expect(counters["resumption ratio"]).toBe("66.7 %");
      // The session store's section: its numbers, or a plain note while GET /v1/stats is not deployed.
      const stats = await call("/v1/stats", PAGE_TOKEN);
      const sessions = await page.textContent("#sessions");
      if (stats.status === 200) {
        expect(sessions).toMatch(/From GET \/v1\/stats/);
        const rows = Object.fromEntries(
          await page.$$eval("#session-counters tr", (trs) => trs.map((tr) => [tr.querySelector("th")!.textContent, tr.querySelector("td")!.textContent])),
        );
        expect(rows["hit ratio (either cache)"]).toBe("50.0 %");
        expect(rows["sess_hits"]).toBe("1");
      } else {
        expect(stats.status).toBe(404);
        expect(sessions).toMatch(/not available on this deployment/);
      }

      // The token lives in this tab's sessionStorage only.
      const storage = await page.evaluate(() => {
        const w = globalThis as any; // the page's window (this file compiles without the DOM library)
        return { session: w.sessionStorage.getItem("esr.status.token"), local: w.localStorage.length, cookie: w.document.cookie };
      });
      expect(storage).toEqual({ session: PAGE_TOKEN, local: 0, cookie: "" });

      mkdirSync(RESULTS, { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // A token with scope keys alone: the timeline, and a note instead of counters.
      await submitToken(page, KEYS_ONLY);
      expect(await page.locator("#timeline [data-key-id]").count()).toBe(ids.length);
      expect(await page.textContent("#ticket-status")).toMatch(/need a token with scope metrics or admin/);

      // Forgetting the token removes it and what it showed.
      await page.click("#forget");
      await page.waitForFunction(() => (globalThis as any).document.querySelectorAll("#timeline [data-key-id]").length === 0, undefined, {
        timeout: 20_000,
      });
      expect(await page.evaluate(() => (globalThis as any).sessionStorage.length)).toBe(0);

      // Nothing failed, nothing was refused by the CSP, nothing was loaded from elsewhere.
      expect(seen.problems).toEqual([]);
      for (const url of seen.requested) expect(url.startsWith(`${server!.url}/`) || url.startsWith("data:")).toBe(true);
      // The worker's own log never carried the tokens the page sent.
      const logs = server!.logs();
      expect(logs).toContain('"route":"/v1/keys"');
      for (const token of [PAGE_TOKEN, KEYS_ONLY, DRIVER]) expect(logs).not.toContain(token);
    } finally {
      await page.close();
    }
  });
});
