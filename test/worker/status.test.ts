/** GET /: the status page's headers and its self-containment (the browser test draws it). */
import { describe, expect, expectTypeOf, it } from "vitest";
import type { KeyRingState } from "../../src/client/types.js";
import { PAGE_IDS, STATUS_METRICS, type KeyRingView } from "../../src/status/client/shapes.js";
import { location } from "./harness.js";

async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...digest));
}

async function getPage() {
  const res = await location().call("GET", "/");
  return { res, html: await res.text(), csp: res.headers.get("content-security-policy") ?? "" };
}

const inlineScripts = (html: string) => [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);

describe("the status page", () => {
  it("is served without a token, never cached", async () => {
    const { res, html } = await getPage();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain('<svg id="timeline"');
  });

  it("has a Content-Security-Policy that allows its own two inline blocks and nothing from elsewhere", async () => {
    const { html, csp } = await getPage();
    const directives = new Map(csp.split(/;\s*/).map((d) => [d.split(" ")[0]!, d.split(" ").slice(1)]));
    expect(directives.get("default-src")).toEqual(["'none'"]);
    expect(directives.get("connect-src")).toEqual(["'self'"]);
    expect(directives.get("img-src")).toEqual(["data:"]);
    expect(directives.get("frame-ancestors")).toEqual(["'none'"]);
    expect(directives.get("base-uri")).toEqual(["'none'"]);
    expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);

    const scripts = inlineScripts(html);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect([scripts.length, styles.length]).toEqual([1, 1]);
    expect(directives.get("script-src")).toEqual([`'sha256-${await sha256Base64(scripts[0]!)}'`]);
    expect(directives.get("style-src")).toEqual([`'sha256-${await sha256Base64(styles[0]!)}'`]);
  });

  it("loads nothing from elsewhere and keeps the token out of localStorage and cookies", async () => {
    const { html } = await getPage();
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|@import|@font-face|url\(/i);
    // The only absolute URL is the SVG namespace, an identifier rather than a load.
    expect([...html.matchAll(/https?:\/\/[^\s"')]+/g)].map((m) => m[0])).toEqual(expect.arrayContaining(["http://www.w3.org/2000/svg"]));
    for (const url of html.matchAll(/https?:\/\/[^\s"')]+/g)) expect(url[0]).toBe("http://www.w3.org/2000/svg");
    expect(html).toContain("sessionStorage");
    expect(html).not.toMatch(/localStorage|document\.cookie/);
    // Never markup from data: values are set with textContent and setAttribute only.
    expect(html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });

  it("runs the script bundled from src/status/client, not one kept in a string", async () => {
    const [script] = inlineScripts((await getPage()).html);
    // scripts/status-script.mjs's banner, then esbuild's marks of the modules it bundled, entry last.
    expect(script).toMatch(/^\/\/ The status page's script: src\/status\/client\/main\.ts and its imports, bundled by scripts\/status-script\.mjs\.\n"use strict";\n\(\(\) => \{\n/);
    const modules = [...script!.matchAll(/^ {2}\/\/ (src\/status\/client\/[\w-]+\.ts)$/gm)].map((m) => m[1]);
    expect(modules).toEqual(expect.arrayContaining(["src/status/client/api.ts", "src/status/client/dom.ts", "src/status/client/timeline.ts", "src/status/client/counters.ts", "src/status/client/sessions.ts"]));
    expect(modules.at(-1)).toBe("src/status/client/main.ts");
  });

  it("has an element for every id the script looks up", async () => {
    const { html } = await getPage();
    for (const id of PAGE_IDS) expect(html.split(`id="${id}"`).length - 1, id).toBe(1);
  });

  it("reads only metrics that GET /metrics lists", async () => {
    const res = await location().call("GET", "/metrics", { token: "alpha-metrics" });
    expect(res.status).toBe(200);
    const text = await res.text();
    // Every family has its TYPE line, samples or not (src/observability/metrics.ts).
    for (const name of STATUS_METRICS) expect(text, name).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"));
  });

  it("reads GET /v1/keys as the client package types it", () => {
    // A type-level check, made by `npm run typecheck`: every field the timeline draws is in the answer, with its type.
    expectTypeOf<KeyRingState>().toExtend<KeyRingView>();
  });

  it("answers HEAD too", async () => {
    const res = await location().call("HEAD", "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
  });
});
