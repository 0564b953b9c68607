/**
 * The CLI's extra headers (src/cli/headers.ts) through a Cloudflare Access
 * application that requires a service token: `esr` as a child process
 * (bin/esr.mjs, as in test/e2e/cli.test.ts) sends CF-Access-Client-Id and
 * CF-Access-Client-Secret from ESR_HEADER_* or a header file to a stand-in
 * for Access (test/e2e/fake-access.ts), which checks them and forwards the
 * call with its signed assertion to the worker under Miniflare, whose
 * JWT_ISSUERS trusts it. No ESR_TOKEN: the service token is the credential.
 * The values are never printed, whatever fails.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run, tempDir } from "./procs.js";
import { startService, type Service } from "./service.js";
import { startFakeAccess, type FakeAccess } from "./fake-access.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ESR = join(ROOT, "bin/esr.mjs");
const CLIENT_ID = "0123456789abcdef0123456789abcdef.access";
const CLIENT_SECRET = "5ecre7".repeat(10) + "5ecr";

let service: Service | undefined;
let access: FakeAccess | undefined;
let work: { path: string; remove: () => void } | undefined;

beforeAll(async () => {
  access = await startFakeAccess({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  service = await startService({
    grants: { admin: { scopes: ["keys", "admin"] } },
    vars: { JWT_ISSUERS: JSON.stringify({ access: access.issuer({ context: "default", scopes: ["keys"] }) }) },
  });
  access.upstream = service.url;
  work = tempDir("cli-headers");
}, 60_000);

afterAll(async () => {
  try {
    await access?.stop();
  } finally {
    try {
      await service?.stop();
    } finally {
      work?.remove();
    }
  }
});

/** The CLI as a child process, its environment only ESR_URL (the stand-in for Access) and what the test gives. */
async function esr(args: string[], env: Record<string, string> = {}) {
  const clean: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ESR_")));
  const r = await run("esr", process.execPath, [ESR, ...args], { env: { ...clean, ESR_URL: access!.url, ...env }, input: "", timeoutMs: 20_000 });
  return { ...r, all: r.stdout + r.stderr };
}

const SERVICE_TOKEN = { ESR_HEADER_CF_ACCESS_CLIENT_ID: CLIENT_ID, ESR_HEADER_CF_ACCESS_CLIENT_SECRET: CLIENT_SECRET };

describe("esr behind Cloudflare Access with a service token", () => {
  it("sends the service token's headers from the environment, and no token is needed", async () => {
    const before = access!.seen.length;
    const r = await esr(["keys", "status"], SERVICE_TOKEN);
    expect(r.code, r.all).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+STATE/m);
    expect(r.all).not.toContain(CLIENT_SECRET);
    // What reached Access: its two headers, and no Authorization that would override its assertion.
    const sent = access!.seen.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    for (const names of sent) {
      expect(names).toEqual(expect.arrayContaining(["cf-access-client-id", "cf-access-client-secret"]));
      expect(names).not.toContain("authorization");
    }
    // The worker signed the caller in by Access's assertion, in the grant's context.
    expect(service!.logs()).toMatch(/"route":"\/v1\/keys".*"context":"default","auth":"jwt:access"/);
    // The grant gives keys, not admin: the service's own refusal comes back through Access.
    const rotate = await esr(["keys", "rotate"], SERVICE_TOKEN);
    expect([rotate.code, rotate.stderr]).toEqual([2, expect.stringMatching(/^esr keys rotate: forbidden \(HTTP 403\)/)]);
    // health checks the ring with them too.
    const health = await esr(["health", "--json"], SERVICE_TOKEN);
    expect(health.code, health.all).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({ ring: { status: "ok" } });
  });

  it("reads them from a header file (--header-file or ESR_HEADER_FILE), and warns when others can read it", async () => {
    const file = join(work!.path, "access.headers");
    writeFileSync(file, `# the terminators' service token\nCF-Access-Client-Id: ${CLIENT_ID}\n\nCF-Access-Client-Secret:   ${CLIENT_SECRET}\n`, { mode: 0o600 });
    const byOption = await esr(["keys", "status", "--header-file", file, "--json"]);
    expect([byOption.code, byOption.stderr]).toEqual([0, ""]);
    expect(JSON.parse(byOption.stdout)).toHaveProperty("keys");
    const byEnv = await esr(["keys", "status"], { ESR_HEADER_FILE: file });
    expect(byEnv.code, byEnv.all).toBe(0);

    const open = join(work!.path, "open.headers");
    writeFileSync(open, `CF-Access-Client-Id: ${CLIENT_ID}\nCF-Access-Client-Secret: ${CLIENT_SECRET}\n`, { mode: 0o644 });
    const warned = await esr(["keys", "status", "--header-file", open]);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toContain("readable by other users");
  });

  it("never prints the values: a wrong secret, --json, ESR_DEBUG", async () => {
    const wrong = "wr0ng-5ecret-" + "x".repeat(40);
    for (const extra of [[], ["--json"]]) {
      const r = await esr(["keys", "status", ...extra], { ...SERVICE_TOKEN, ESR_HEADER_CF_ACCESS_CLIENT_SECRET: wrong, ESR_DEBUG: "1" });
      expect(r.code).toBe(2);
      // Access's own 403 page, not the service's JSON: the client's http_error.
      expect(r.all).toMatch(/http_error/);
      expect(r.all).not.toContain(wrong);
      expect(r.all).not.toContain(CLIENT_ID);
    }
  });

  it("refuses bad headers before any request, naming where they came from but not their values", async () => {
    const before = access!.seen.length;
    const file = join(work!.path, "bad.headers");
    writeFileSync(file, `CF-Access-Client-Id ${CLIENT_SECRET}\n`, { mode: 0o600 });
    const noColon = await esr(["keys", "status", "--header-file", file]);
    expect([noColon.code, noColon.stderr]).toEqual([2, expect.stringContaining(`${file}:1: a line is "Name: value"`)]);
    expect(noColon.all).not.toContain(CLIENT_SECRET);

    const auth = await esr(["keys", "status"], { ESR_HEADER_AUTHORIZATION: `Bearer ${CLIENT_SECRET}` });
    expect([auth.code, auth.stderr]).toEqual([2, expect.stringContaining("ESR_HEADER_AUTHORIZATION: authorization cannot be set as an extra header (the token goes in ESR_TOKEN")]);
    expect(auth.all).not.toContain(CLIENT_SECRET);

    const newline = await esr(["keys", "status"], { ESR_HEADER_X_NOTE: `a\u0001${CLIENT_SECRET}` });
    expect([newline.code, newline.stderr]).toEqual([2, expect.stringContaining("ESR_HEADER_X_NOTE: the value of x-note is empty or holds characters a header cannot carry")]);
    expect(newline.all).not.toContain(CLIENT_SECRET);

    const twice = join(work!.path, "twice.headers");
    writeFileSync(twice, `cf-access-client-id: ${CLIENT_ID}\n`, { mode: 0o600 });
    const dup = await esr(["keys", "status", "--header-file", twice], SERVICE_TOKEN);
    expect([dup.code, dup.stderr]).toEqual([2, expect.stringContaining(`${twice}:1: cf-access-client-id is also given by ESR_HEADER_CF_ACCESS_CLIENT_ID`)]);
    expect(access!.seen.length).toBe(before);
  });

  it("says how in --help, and points to it when there is neither a token nor a service token", async () => {
    const help = await esr(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("ESR_HEADER_CF_ACCESS_CLIENT_ID=<client id>");
    expect(help.stdout).toContain("ESR_HEADER_CF_ACCESS_CLIENT_SECRET=<client secret>");
    expect(help.stdout).toMatch(/--header-file FILE\s+extra headers for every call/);
    const command = await esr(["keys", "status", "--help"]);
    expect(command.stdout).toContain("--header-file FILE");
    const none = await esr(["keys", "status"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no token");
    expect(none.stderr).toContain("ESR_HEADER_CF_ACCESS_CLIENT_ID");
  });
});
