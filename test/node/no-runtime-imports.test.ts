/**
 * The core (src/core) has zero dependencies: it imports only its own files,
 * never node:*, cloudflare:*, hono or any other package, and touches no
 * runtime-specific global. Reads the sources, so it runs in the node project
 * only.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CORE = fileURLToPath(new URL("../../src/core/", import.meta.url));

/** Removes comments and the contents of string and template literals (keeping the quotes), so words in them don't count. */
function stripCommentsAndStrings(source: string): string {
  return source.replace(
    /\/\*[\s\S]*?\*\/|\/\/[^\n]*|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\[\s\S])*`/g,
    (m) => (m.startsWith("/") ? " " : `${m[0]}${m[0]}`),
  );
}

/** Every module specifier a TypeScript source names: static imports and exports, side-effect imports, import(), require(). */
export function moduleSpecifiers(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, " ");
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?[\w*{}\s,$]*?\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["'`]([^"'`]+)["'`]\s*\)/g,
    /\brequire\s*\(\s*["'`]([^"'`]+)["'`]\s*\)/g,
  ];
  const out: string[] = [];
  for (const re of patterns) for (const m of code.matchAll(re)) out.push(m[1]!);
  return out;
}

/** Why a specifier is not allowed in the core, or undefined when it is (a sibling file). */
export function forbidden(specifier: string): string | undefined {
  if (specifier.startsWith("node:")) return "a Node built-in";
  if (specifier.startsWith("cloudflare:")) return "a Workers built-in";
  if (specifier === "hono" || specifier.startsWith("hono/")) return "the HTTP framework";
  if (!specifier.startsWith("./")) return specifier.startsWith("../") ? "a file outside src/core" : "a package (the core has no dependencies)";
  if (specifier.includes("/../") || specifier.slice(2).includes("/")) return "a file outside src/core";
  return undefined;
}

/** Runtime-specific globals the core must not touch (Web APIs only). */
const RUNTIME_GLOBALS = /\b(Buffer|process|require|__dirname|__filename|global|Deno|Bun|caches|navigator|window|document|HTMLRewriter|WebSocketPair|scheduler)\b/;
/** Dynamic code the core has no business running. */
const DYNAMIC_CODE = /\beval\s*\(|\bnew\s+Function\s*\(|\bimport\s*\(/;

const files = readdirSync(CORE)
  .filter((f) => f.endsWith(".ts"))
  .sort();

describe("src/core has no runtime imports", () => {
  it("finds the core's sources", () => {
    for (const f of ["errors.ts", "encoding.ts", "binary.ts", "session.ts", "keys.ts", "ticket.ts", "index.ts"]) expect(files).toContain(f);
  });

  it("the scanner catches what it must", () => {
    const bad = [
      `import { createHash } from "node:crypto";`,
      `import crypto from 'crypto';`,
      `import { Hono } from "hono";`,
      `import { cors } from "hono/cors";`,
      `export * from "jose";`,
      `import type { KVNamespace } from "@cloudflare/workers-types";`,
      `import { env } from "cloudflare:workers";`,
      `const m = await import("cloudflare:sockets");`,
      `import "node:buffer";`,
      `const fs = require("fs");`,
      `import {\n  a,\n  b,\n} from "../store/kv.js";`,
      `export { x } from "./sub/dir.js";`,
    ];
    for (const source of bad) {
      const specs = moduleSpecifiers(source);
      expect(specs, source).toHaveLength(1);
      expect(forbidden(specs[0]!), source).toBeDefined();
    }
    expect(moduleSpecifiers(`import { a } from "./a.js";\nexport * from "./b.js";\nimport type { C } from "./c.js";`).map(forbidden)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    // Specifiers in comments are not imports.
    expect(moduleSpecifiers(`// import x from "node:fs";\n/* export * from "hono"; */`)).toEqual([]);
    expect(RUNTIME_GLOBALS.test(stripCommentsAndStrings(`const b = Buffer.from("x");`))).toBe(true);
    expect(RUNTIME_GLOBALS.test(stripCommentsAndStrings(`const s = "process the ticket"; // a Buffer`))).toBe(false);
  });

  for (const file of files) {
    it(`${file} imports only sibling core files`, () => {
      const source = readFileSync(join(CORE, file), "utf8");
      const problems = moduleSpecifiers(source)
        .map((s) => [s, forbidden(s)] as const)
        .filter(([, why]) => why !== undefined)
        .map(([s, why]) => `${file}: "${s}" is ${why}`);
      expect(problems).toEqual([]);
      // Every import line was understood (none slipped past the patterns).
      const importLines = source.split("\n").filter((l) => /^\s*(import|export)\b.*\bfrom\b|^\s*import\s*["']/.test(l));
      expect(moduleSpecifiers(source).length).toBeGreaterThanOrEqual(importLines.length);
    });

    it(`${file} uses Web APIs only`, () => {
      const code = stripCommentsAndStrings(readFileSync(join(CORE, file), "utf8"));
      expect(code.match(RUNTIME_GLOBALS)?.[0], `${file} names a runtime-specific global`).toBeUndefined();
      expect(code.match(DYNAMIC_CODE)?.[0], `${file} runs dynamic code`).toBeUndefined();
    });
  }
});
