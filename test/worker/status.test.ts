/** GET /: the status page's headers and its self-containment (the browser test draws it). */
import { describe, expect, it } from "vitest";
import { location } from "./harness.js";

async function sha256Base64(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return btoa(String.fromCharCode(...digest));
}

async function getPage() {
  const res = await location().call("GET", "/");
  return { res, html: await res.text(), csp: res.headers.get("content-security-policy") ?? "" };
}

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

    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
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

  it("answers HEAD too", async () => {
    const res = await location().call("HEAD", "/");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
  });
});
