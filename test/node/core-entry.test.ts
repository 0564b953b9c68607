/**
 * The package's "./core" entry (src/entries/core.ts, `npm run build:core`):
 * built exactly as package.json says, it is one self-contained ES module
 * whose exports are the entry's list, which README.md's "The core as a
 * package" names member by member; Node resolves
 * "edge-session-resumption/core" to it; and the built file seals and opens
 * the interop vectors (test/vectors/ticket-v1.json) byte for byte.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { invalid, valid } from "../vectors/vectors.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, { types: string; default: string }>;
  scripts: Record<string, string>;
};
const entry = pkg.exports["./core"]!;
const BUILT = join(ROOT, entry.default);

/** The names the entry exports, and which of them are types only. */
function entryNames(): { all: string[]; types: string[] } {
  const source = readFileSync(join(ROOT, entry.types), "utf8");
  const list = /export \{([\s\S]*?)\} from/.exec(source)![1]!.replace(/\/\/[^\n]*/g, "");
  const items = list.split(",").map((s) => s.trim()).filter(Boolean);
  return { all: items.map((s) => s.replace(/^type /, "")).sort(), types: items.filter((s) => s.startsWith("type ")).map((s) => s.slice(5)).sort() };
}

/** Every `name` in backticks in the README's section on the core package, from its list of what is public. */
function readmeNames(): string[] {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## The core as a package"), readme.indexOf("\n## ", readme.indexOf("## The core as a package") + 3));
  const list = section.slice(section.indexOf("What is public"));
  const bullets = list.split("\n\n").find((p) => p.startsWith("- **Tickets**"))!;
  return [...new Set([...bullets.matchAll(/`([A-Za-z_][A-Za-z0-9_]*)`/g)].map((m) => m[1]!))].sort();
}

let core: Record<string, any>;

beforeAll(async () => {
  // The very command package.json has: what a consumer gets.
  const [tool, ...args] = pkg.scripts["build:core"]!.split(" ");
  expect(tool).toBe("esbuild");
  await promisify(execFile)(join(ROOT, "node_modules/.bin/esbuild"), args, { cwd: ROOT });
  core = await import(`${pathToFileURL(BUILT).href}?t=${Date.now()}`);
}, 60_000);

describe('the "./core" package entry', () => {
  it("is the entry's list, and README.md names exactly that list", () => {
    const { all, types } = entryNames();
    expect(readmeNames()).toEqual(all);
    // At run time: the list without its types, nothing more.
    expect(Object.keys(core).sort()).toEqual(all.filter((n) => !types.includes(n)));
  });

  it("is one self-contained module, and Node resolves the package's name to it", async () => {
    const code = readFileSync(BUILT, "utf8");
    expect(code).not.toMatch(/^\s*import\s/m);
    expect(code).not.toMatch(/\brequire\(/);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["--input-type=module", "-e", `const m = await import("${pkg.name}/core"); console.log(typeof m.sealTicket, typeof m.TicketKeyCache);`],
      { cwd: ROOT },
    );
    expect(stdout.trim()).toBe("function function");
  });

  it("seals every valid vector to its bytes and opens it, with the built file", async () => {
    for (const v of valid) {
      const keys = new core.TicketKeyCache();
      keys.add(v.key_id, core.decodeHex(v.key_material));
      const key = await keys.subkey(v.key_id, v.context);
      const ticket = await core.sealTicket({
        session: core.parseSession(v.session, v.session_defaults),
        sessionId: core.decodeHex(v.session_id),
        withLookupId: v.with_lookup_id,
        issuedAt: v.issued_at,
        lifetime: v.lifetime,
        singleUse: v.single_use,
        context: v.context,
        keyId: v.key_id,
        key,
        nonce: core.decodeHex(v.nonce),
      });
      expect(core.encodeHex(ticket), v.name).toBe(v.expected.ticket);
      const opened = await core.openTicket(core.decodeBase64url(v.expected.ticket_base64url), { context: v.context, now: v.open_at, keys });
      expect(core.sessionToJson(opened.session), v.name).toEqual(v.expected.session);
      expect(core.parseTicketHeader(ticket).keyId).toBe(v.key_id);
    }
  });

  it("refuses every invalid vector with its code, as a ResumptionError of the built file", async () => {
    for (const v of invalid) {
      const keys = new core.TicketKeyCache();
      keys.add(v.key_id, core.decodeHex(v.key_material));
      const error = await core
        .openTicket(core.decodeHex(v.ticket), { context: v.context, now: v.open_at, keys })
        .then(() => undefined, (e: unknown) => e);
      expect(core.isResumptionError(error), v.name).toBe(true);
      expect(error).toBeInstanceOf(core.ResumptionError);
      expect((error as { code: string }).code, v.name).toBe(v.expected_error.code);
      expect(core.CORE_ERROR_CODES).toContain((error as { code: string }).code);
    }
  });
});
