/**
 * The operators' CLI (src/cli, `esr`) as operators and cron jobs run it: a
 * child process started through bin/esr.mjs (the launcher that bundles the
 * TypeScript on first use), against the worker under Miniflare
 * (test/e2e/service.ts). The confirmation prompt, which needs a terminal, is
 * driven in-process through main() with a scripted Io.
 */
import { createHash } from "node:crypto";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KeyRingState, StekExport } from "../../src/client/index.js";
import type { Io } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { run, stopAll, tempDir } from "./procs.js";
import { startService, type Service } from "./service.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const ESR = join(ROOT, "bin/esr.mjs");
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

let service: Service | undefined;
const dirs: { remove: () => void }[] = [];
let work = "";

beforeAll(async () => {
  service = await startService({
    grants: {
      admin: { scopes: ["keys", "admin", "stek"] },
      stek: { scopes: ["stek"] },
      keys: { scopes: ["keys"] },
    },
  });
  const d = tempDir("cli");
  dirs.push(d);
  work = d.path;
  // The first run bundles src/cli into node_modules/.cache/esr; later runs only check its inputs.
  const first = await esr(["--help"]);
  expect(first.code, first.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  try {
    await stopAll();
    await service?.stop();
  } finally {
    for (const d of dirs) d.remove();
  }
});

/** The CLI as a child process with a clean environment: ESR_URL and ESR_TOKEN only as given. */
async function esr(args: string[], options: { token?: string; url?: string | null; input?: string; env?: Record<string, string> } = {}) {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("ESR_")));
  if (options.url !== null && service) env.ESR_URL = options.url ?? service.url;
  if (options.token !== undefined) env.ESR_TOKEN = options.token;
  Object.assign(env, options.env);
  const r = await run("esr", process.execPath, [ESR, ...args], { env, input: options.input ?? "", timeoutMs: 20_000 });
  return { ...r, all: r.stdout + r.stderr };
}

async function api<T>(path: string, token: string): Promise<T> {
  const res = await fetch(`${service!.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

const tokens = () => service!.tokens as Record<"admin" | "stek" | "keys", string>;

describe("esr token", () => {
  it("create prints a token once and its API_TOKENS entry, keyed by the token's SHA-256", async () => {
    const r = await esr(["token", "create", "--context", "edge-a", "--scopes", "tickets,sessions", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { token: string; hash: string; entry: Record<string, unknown> };
    expect(out.token).toMatch(/^esr_[A-Za-z0-9_-]{43}$/);
    expect(out.hash).toBe(sha256(out.token));
    expect(out.entry).toEqual({ [out.hash]: { context: "edge-a", scopes: ["tickets", "sessions"] } });

    const text = await esr(["token", "create"]);
    expect(text.code).toBe(0);
    const token = /^\s+(esr_\S+)$/m.exec(text.stdout)![1]!;
    expect(text.stdout).toContain(`"${sha256(token)}": {"context":"default","scopes":["tickets"]}`);
  });

  it("create refuses unknown scopes and bad context names", async () => {
    const r = await esr(["token", "create", "--scopes", "tickets,root"]);
    expect([r.code, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toContain("unknown: root");
    expect((await esr(["token", "create", "--context", "a b"])).code).toBe(2);
  });

  it("hash reads the token from stdin; an argument works too, with a note about shell history", async () => {
    const token = "esr_example-token_0123456789";
    const piped = await esr(["token", "hash"], { input: `${token}\n` });
    expect([piped.code, piped.stdout.trim(), piped.stderr]).toEqual([0, sha256(token), ""]);
    const arg = await esr(["token", "hash", token]);
    expect([arg.code, arg.stdout.trim()]).toEqual([0, sha256(token)]);
    expect(arg.stderr).toContain("shell history");
    const empty = await esr(["token", "hash"], { input: "" });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain("token_invalid");
  });

  it("scripts/token.mjs is the same command", async () => {
    const r = await run("token.mjs", process.execPath, [join(ROOT, "scripts/token.mjs"), "--context", "default", "--scopes", "admin", "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { token: string; hash: string };
    expect(out.hash).toBe(sha256(out.token));
  });
});

describe("esr keys", () => {
  it("status shows the ring as a table with ISO and relative times, and the settings", async () => {
    const r = await esr(["keys", "status"], { token: tokens().keys });
    expect(r.code, r.stderr).toBe(0);
    const ring = await api<KeyRingState>("/v1/keys", tokens().keys);
    const active = ring.keys.find((k) => k.state === "active")!;
    expect(r.stdout).toMatch(/^ID\s+STATE\s+ACTIVATES\s+DEACTIVATES\s+EXPIRES$/m);
    const row = r.stdout.split("\n").find((l) => l.startsWith(`${active.id} `))!;
    expect(row).toMatch(/active/);
    expect(row).toContain(new Date(active.deactivates_at * 1000).toISOString().replace(".000Z", "Z"));
    expect(row).toMatch(/\(in \d+[dhm]( \d+[hms])?\)/);
    expect(r.stdout).toMatch(/rotation_period\s+3600 s \(1h\)/);

    const json = await esr(["keys", "status", "--json"], { token: tokens().keys });
    expect((JSON.parse(json.stdout) as KeyRingState).keys.map((k) => k.id)).toEqual(ring.keys.map((k) => k.id));
  });

  it("rotate --revoke refuses without --yes when nobody can confirm, and changes nothing", async () => {
    const before = await api<KeyRingState>("/v1/keys", tokens().admin);
    const r = await esr(["keys", "rotate", "--revoke"], { token: tokens().admin });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("confirmation_required");
    expect(r.stderr).toContain("--yes");
    const after = await api<KeyRingState>("/v1/keys", tokens().admin);
    expect(after.keys).toEqual(before.keys);
  });

  it("a scope the token lacks is the service's forbidden", async () => {
    const r = await esr(["keys", "rotate"], { token: tokens().keys });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/forbidden \(HTTP 403\)/);
  });
});

describe("esr export", () => {
  it("writes the files atomically with mode 0600, then reports unchanged (exit 1) until the keys change", async () => {
    const out = join(work, "nginx", "esr");
    const first = await esr(["export", "--format", "nginx80", "--slots", "4", "--out", out], { token: tokens().stek });
    expect(first.code, first.all).toBe(0);
    expect(first.stdout).toMatch(/^changed: wrote stek\.0\.key, stek\.1\.key, stek\.2\.key, stek\.3\.key/);

    const exported = await api<StekExport>("/v1/keys/export?format=nginx80&slots=4", tokens().stek);
    expect(readdirSync(out).sort()).toEqual([".revision", ...exported.files!.map((f) => f.name)].sort());
    for (const f of exported.files!) {
      expect(readFileSync(join(out, f.name))).toEqual(Buffer.from(f.content, "base64"));
      expect(statSync(join(out, f.name)).mode & 0o777).toBe(0o600);
    }
    expect(readFileSync(join(out, ".revision"), "utf8").trim()).toBe(exported.revision);
    expect(statSync(out).mode & 0o777).toBe(0o700);

    const second = await esr(["export", "--format", "nginx80", "--slots", "4", "--out", out], { token: tokens().stek });
    expect(second.code, second.all).toBe(1);
    expect(second.stdout).toMatch(/^unchanged: /);
    const json = await esr(["export", "--format", "nginx80", "--slots", "4", "--out", out, "--json"], { token: tokens().stek });
    expect(json.code).toBe(1);
    const summary = JSON.parse(json.stdout) as { changed: boolean; revision: string; written: string[] };
    expect([summary.changed, summary.revision, summary.written]).toEqual([false, exported.revision, []]);
    expect(json.stdout).not.toContain(exported.keys[0]!.key); // a summary, without key material

    // A file someone broke is rewritten (changed: reload).
    writeFileSync(join(out, "stek.2.key"), "garbage");
    const repaired = await esr(["export", "--format", "nginx80", "--slots", "4", "--out", out], { token: tokens().stek });
    expect(repaired.code).toBe(0);
    expect(repaired.stdout).toContain("wrote stek.2.key in");

    // A revoke changes the keys: the next export writes again.
    const revoke = await esr(["keys", "rotate", "--revoke", "--yes"], { token: tokens().admin });
    expect(revoke.code, revoke.all).toBe(0);
    expect(revoke.stdout).toMatch(/^rotated: key \d+ encrypts from /);
    expect(revoke.stdout).toMatch(/^revoked: \d+/m);
    const ring = await api<KeyRingState>("/v1/keys", tokens().admin);
    expect(ring.keys.filter((k) => k.state === "retiring")).toEqual([]);
    const third = await esr(["export", "--format", "nginx80", "--slots", "4", "--out", out], { token: tokens().stek });
    expect(third.code, third.all).toBe(0);
    const now = await api<StekExport>("/v1/keys/export?format=nginx80&slots=4", tokens().stek);
    expect(now.revision).not.toBe(exported.revision);
    for (const f of now.files!) expect(readFileSync(join(out, f.name))).toEqual(Buffer.from(f.content, "base64"));
  });

  it("haproxy's one file of base64 lines; a plain rotation", async () => {
    const out = join(work, "haproxy");
    const r = await esr(["export", "--format", "haproxy", "--out", out], { token: tokens().admin });
    expect(r.code, r.all).toBe(0);
    const exported = await api<StekExport>("/v1/keys/export?format=haproxy", tokens().admin);
    expect(readFileSync(join(out, "tls-ticket-keys"), "utf8")).toBe(exported.files![0]!.content);
    const rotate = await esr(["keys", "rotate"], { token: tokens().admin });
    expect(rotate.code, rotate.all).toBe(0);
    expect(rotate.stdout).toMatch(/^rotated: key \d+ encrypts from \S+ \((in|now|\d)/);
  });

  it("jwk: one jwks.json (0600) that the service's JWK Set fills, rewritten only when it changes", async () => {
    const out = join(work, "jwk");
    const first = await esr(["export", "--format", "jwk", "--out", out], { token: tokens().stek });
    expect(first.code, first.all).toBe(0);
    const exported = await api<{ keys: { kid: string; k: string }[]; revision: string }>("/v1/keys/export?format=jwk", tokens().stek);
    const written = JSON.parse(readFileSync(join(out, "jwks.json"), "utf8"));
    expect(written).toEqual({ keys: exported.keys });
    expect(statSync(join(out, "jwks.json")).mode & 0o777).toBe(0o600);
    expect(first.stdout).not.toContain(exported.keys[0]!.k);
    const second = await esr(["export", "--format", "jwk", "--out", out, "--json"], { token: tokens().stek });
    expect(second.code, second.all).toBe(1);
    expect(JSON.parse(second.stdout)).toMatchObject({ changed: false, revision: exported.revision, format: "jwk" });
    expect(second.stdout).not.toContain(exported.keys[0]!.k);
  });

  it("usage errors exit 2 before any request", async () => {
    for (const args of [["export", "--out", work], ["export", "--format", "nginx99", "--out", work], ["export", "--format", "node48", "--out", work], ["export", "--format", "nginx80"], ["export", "--format", "jwk", "--slots", "2", "--out", work]]) {
      const r = await esr(args, { token: tokens().stek });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain("usage: esr export");
    }
  });
});

describe("errors", () => {
  it("a bad token: the service's code, a non-zero exit, and the token never printed", async () => {
    const bad = "esr_not_a_real_token_1234567890";
    const r = await esr(["keys", "status"], { token: bad });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^esr keys status: unauthorized \(HTTP 401\): /);
    expect(r.all).not.toContain(bad);
    const json = await esr(["export", "--format", "nginx80", "--out", work, "--json"], { token: bad });
    expect(json.code).toBe(2);
    expect((JSON.parse(json.stdout) as { error: { code: string; status: number } }).error).toMatchObject({ code: "unauthorized", status: 401 });
    expect(json.all).not.toContain(bad);
  });

  it("--token works but warns; --token-file reads a file; no token or no URL is a usage error", async () => {
    const inline = await esr(["keys", "status", "--token", tokens().keys]);
    expect(inline.code, inline.all).toBe(0);
    expect(inline.stderr).toContain("visible to other users in ps");
    const file = join(work, "token");
    writeFileSync(file, `${tokens().keys}\n`, { mode: 0o600 });
    const fromFile = await esr(["keys", "status", "--token-file", file, "--json"]);
    expect([fromFile.code, fromFile.stderr]).toEqual([0, ""]);
    const none = await esr(["keys", "status"]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("no token");
    const noUrl = await esr(["keys", "status"], { token: tokens().keys, url: null });
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toContain("ESR_URL");
  });

  it("a service that cannot be reached: network_error within the timeout", async () => {
    const r = await esr(["health", "--url", "http://127.0.0.1:9", "--timeout", "2s"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/network_error|timeout/);
  });

  it("unknown commands and options", async () => {
    expect((await esr(["keys", "burn"])).code).toBe(2);
    const r = await esr(["keys", "status", "--frobnicate"], { token: tokens().keys });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option --frobnicate");
  });
});

describe("esr health", () => {
  it("liveness without a token; the ring too with one", async () => {
    const live = await esr(["health"]);
    expect(live.code, live.all).toBe(0);
    expect(live.stdout).toMatch(/^ok: \/healthz answered in \d+ ms/);
    const withRing = await esr(["health", "--json"], { token: tokens().keys });
    expect(withRing.code, withRing.all).toBe(0);
    expect(JSON.parse(withRing.stdout)).toMatchObject({ status: "ok", ring: { status: "ok" } });
  });
});

/** An Io for main() in-process: a terminal whose person answers `answer`. */
function terminal(answer: string, env: Record<string, string>) {
  const out: string[] = [];
  const err: string[] = [];
  const asked: string[] = [];
  const io: Io = {
    out: (t) => void out.push(t),
    err: (t) => void err.push(t),
    env,
    interactive: true,
    readStdin: () => Promise.resolve(""),
    ask: (q) => (asked.push(q), Promise.resolve(answer)),
  };
  return { io, out, err, asked };
}

describe("the revoke prompt (in-process, a terminal)", () => {
  it("no at the prompt changes nothing (exit 1); yes revokes", async () => {
    const env = { ESR_URL: service!.url, ESR_TOKEN: tokens().admin };
    const before = await api<KeyRingState>("/v1/keys", tokens().admin);
    const no = terminal("n", env);
    expect(await main(["keys", "rotate", "--revoke"], no.io)).toBe(1);
    expect(no.asked).toEqual(["Revoke now? [y/N] "]);
    expect(no.err.join("\n")).toMatch(/Revoking destroys keys \d+ \(active\)/);
    expect((await api<KeyRingState>("/v1/keys", tokens().admin)).keys).toEqual(before.keys);

    const yes = terminal("y", env);
    expect(await main(["keys", "rotate", "--revoke"], yes.io)).toBe(0);
    const active = before.keys.filter((k) => k.state === "active" || k.state === "retiring").map((k) => k.id);
    expect(yes.out.join("\n")).toContain(`revoked: ${active.join(", ")}`);
  });
});

describe("the standalone bundle (npm run build:cli)", () => {
  it("is one file that needs only Node's built-ins, and runs", async () => {
    const script = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts["build:cli"]!;
    const [tool, entry, ...flags] = script.split(" ");
    expect([tool, entry]).toEqual(["esbuild", "src/cli/bin.ts"]);
    const outfile = join(work, "esr.mjs");
    const options = Object.fromEntries(flags.filter((f) => !f.startsWith("--outfile") && f !== "--bundle").map((f) => f.slice(2).split("=")));
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [entry!],
      bundle: true,
      platform: options.platform as "node",
      format: options.format as "esm",
      target: options.target!,
      outfile,
      logLevel: "silent",
    });
    const code = readFileSync(outfile, "utf8");
    expect(code.startsWith("#!/usr/bin/env node")).toBe(true);
    const imports = [...code.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]!);
    expect(imports.every((s) => s.startsWith("node:"))).toBe(true);
    const r = await run("esr-standalone", process.execPath, [outfile, "token", "hash"], { input: "esr_abc_0123456789" });
    expect([r.code, r.stdout.trim()]).toEqual([0, sha256("esr_abc_0123456789")]);
  });
});
