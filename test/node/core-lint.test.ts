/**
 * src/core runs unchanged in browsers, Workers and Node: it imports only its
 * own files and touches Web APIs only. `npm run lint` enforces that
 * (eslint.config.mjs); this test proves the rules catch what they must, by
 * linting sources that break them as if they were core files, and that a
 * clean core file passes. Type information is not needed for these rules,
 * so the probes are linted without a TypeScript program.
 */
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const eslint = new ESLint({
  cwd: new URL("../..", import.meta.url).pathname,
  overrideConfig: { languageOptions: { parserOptions: { projectService: false, project: false, program: null } } },
  // The rules that need a TypeScript program are not these.
  ruleFilter: ({ ruleId }) => !ruleId.startsWith("@typescript-eslint/"),
});

async function problems(source: string, filePath = "src/core/probe.ts"): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe("the lint rules that keep src/core runtime-agnostic", () => {
  it.each([
    [`import { createHash } from "node:crypto";`, "no-restricted-imports"],
    [`import crypto from "crypto";`, "no-restricted-imports"],
    [`import { Hono } from "hono";`, "no-restricted-imports"],
    [`import { cors } from "hono/cors";`, "no-restricted-imports"],
    [`export * from "jose";`, "no-restricted-imports"],
    [`import type { KVNamespace } from "@cloudflare/workers-types";`, "no-restricted-imports"],
    [`import { env } from "cloudflare:workers";`, "no-restricted-imports"],
    [`import "node:buffer";`, "no-restricted-imports"],
    [`import { parsePeer } from "../store/peer.js";`, "no-restricted-imports"],
    [`export { x } from "./sub/dir.js";`, "no-restricted-imports"],
    [`export const m = await import("cloudflare:sockets");`, "no-restricted-syntax"],
    [`export const fs = require("fs");`, "no-restricted-globals"],
    [`export const b = Buffer.from("x");`, "no-restricted-globals"],
    [`export const e = process.env.X;`, "no-restricted-globals"],
    [`export const c = caches.default;`, "no-restricted-globals"],
    [`export const f = new Function("return 1");`, "no-new-func"],
    [`export const v = eval("1");`, "no-eval"],
  ])("refuses %s", async (source, rule) => {
    expect((await problems(source)).map((p) => p.split(":")[0])).toContain(rule);
  });

  it("accepts what the core does: sibling imports and Web APIs", async () => {
    const source = [
      `import { a } from "./a.js";`,
      `export * from "./b.js";`,
      `import type { C } from "./c.js";`,
      `// import x from "node:fs"; a comment is not an import`,
      `export const s = "process the Buffer"; // words in strings are not globals`,
      `export const k = crypto.subtle.importKey("raw", new Uint8Array(32), "AES-GCM", false, ["encrypt"]);`,
      `export const t = new TextEncoder().encode(String(a) + String(undefined as unknown as C));`,
    ].join("\n");
    expect(await problems(source)).toEqual([]);
  });

  it("applies only to src/core: the rest of src imports what it needs", async () => {
    expect(await problems(`import { Hono } from "hono";\nexport const h = new Hono();`, "src/app-probe.ts")).toEqual([]);
  });
});
