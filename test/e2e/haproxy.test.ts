/**
 * Two HAProxy instances (Debian's haproxy 2.6) running examples/haproxy/haproxy.cfg
 * with the service's `haproxy` export as tls-ticket-keys: tickets resume across
 * them with TLS 1.2 and 1.3, through a rotation (renewed) and not past a revoke
 * (ticket-fleet.ts). Every key change reaches the running instances through
 * HAProxy's runtime API (examples/stek-sync with --haproxy-socket, which runs
 * `set ssl tls-key` on the stats socket), never a reload: the processes the
 * test started are the ones still answering at the end. Then the fallback: a
 * runtime API that cannot be reached makes stek-sync run the reload command.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResumptionClient } from "../../src/client/index.js";
import { findTicketKeyRef, showTicketKeys } from "../../examples/haproxy/runtime-keys.mjs";
import { freePort, run, start, stopAll, tempDir, waitForPort, type Proc } from "./procs.js";
import { startService, type Service } from "./service.js";
import { describeTicketFleet, type TicketNode } from "./ticket-fleet.js";
import { makeCertificate } from "./tls.js";

const HAPROXY = process.env.HAPROXY ?? "/usr/sbin/haproxy";
const STEK_SYNC = fileURLToPath(new URL("../../examples/stek-sync/stek-sync.mjs", import.meta.url));
const CONFIG = fileURLToPath(new URL("../../examples/haproxy/haproxy.cfg", import.meta.url));
const PATH = "/esr/resumption";

interface Instance extends TicketNode {
  dir: string;
  socket: string;
  keysFile: string;
  proc: Proc;
}

let service: Service | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let stek: ResumptionClient;
let sitePem: string;
const instances: Record<"a" | "b", Instance> = {} as never;
/** set ssl tls-key pushes per sync, per instance, in order. */
const pushes: Record<"a" | "b", number[]> = { a: [], b: [] };

/** The example's configuration with this instance's paths and a loopback port; each replaced line must be there. */
function renderConfig(inst: { dir: string; socket: string; keysFile: string }, port: number): string {
  let config = readFileSync(CONFIG, "utf8");
  for (const [from, to] of [
    ["/run/haproxy/admin.sock", inst.socket],
    ["/etc/haproxy/esr/tls-ticket-keys", inst.keysFile],
    ["/etc/haproxy/site.pem", sitePem],
    ["bind :443 ", `bind 127.0.0.1:${port} `],
  ]) {
    if (!config.includes(from!)) throw new Error(`examples/haproxy/haproxy.cfg no longer has ${from}: update this test`);
    config = config.replaceAll(from!, to!);
  }
  return config;
}

/** examples/stek-sync, once, for one instance's directory; its JSON log lines. */
async function stekSync(keysDir: string, extra: string[] = []): Promise<{ code: number | string; events: Record<string, unknown>[] }> {
  const r = await run("stek-sync", process.execPath, [STEK_SYNC, "--once", "--service", service!.url, "--format", "haproxy", "--slots", "3", "--dir", keysDir, ...extra], {
    env: { ...process.env, ESR_TOKEN: service!.tokens.stek },
  });
  const events = r.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
  return { code: r.code, events };
}

async function startHaproxy(name: "a" | "b"): Promise<void> {
  const instDir = join(dir!.path, name);
  mkdirSync(instDir, { recursive: true });
  const inst = { dir: instDir, socket: join(instDir, "admin.sock"), keysFile: join(instDir, "esr", "tls-ticket-keys") };
  const first = await stekSync(join(instDir, "esr"));
  expect(first.code).toBe(0);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = join(instDir, "haproxy.cfg");
    writeFileSync(config, renderConfig(inst, port));
    const proc = start(`haproxy ${name}`, HAPROXY, ["-db", "-f", config], { env: { ...process.env, NODE_NAME: name } });
    try {
      await Promise.race([
        waitForPort(port, 10_000),
        proc.exited.then((code) => {
          throw new Error(`haproxy ${name} exited (${code}): ${proc.stderr()}`);
        }),
      ]);
      instances[name] = { name, port, proc, ...inst };
      return;
    } catch (e) {
      await proc.stop();
      if (attempt >= 3 || !/Address already in use|cannot bind/i.test(String(e))) throw e;
    }
  }
}

async function currentExport() {
  const r = await stek.exportKeys("haproxy", { slots: 3 });
  if (!r.ok) throw r.error;
  return r.value;
}

/** What HAProxy holds now, through the runtime API: its keys, oldest first. */
async function heldKeys(inst: Instance): Promise<string[]> {
  return showTicketKeys(inst.socket, await findTicketKeyRef(inst.socket, inst.keysFile));
}

beforeAll(async () => {
  if (!existsSync(HAPROXY)) throw new Error(`haproxy not found at ${HAPROXY}: install Debian's haproxy (apt-get install haproxy) or set HAPROXY. This test does not skip.`);
  dir = tempDir("haproxy");
  service = await startService({ clock: "controlled", grants: { stek: { scopes: ["stek"] }, admin: { scopes: ["admin", "keys"] } } });
  stek = new ResumptionClient({ baseUrl: service.url, token: service.tokens.stek!, timeout: 5000 });
  const cert = await makeCertificate(dir.path);
  sitePem = join(dir.path, "site.pem");
  writeFileSync(sitePem, readFileSync(cert.cert, "utf8") + readFileSync(cert.key, "utf8"));
  await Promise.all([startHaproxy("a"), startHaproxy("b")]);
});

afterAll(async () => {
  await stopAll();
  await service?.stop();
  dir?.remove();
});

it("both instances loaded the export's three lines, the active key penultimate", async () => {
  const exported = await currentExport();
  const lines = exported.files![0]!.content.trimEnd().split("\n");
  expect(lines).toHaveLength(3);
  for (const inst of [instances.a, instances.b]) expect(await heldKeys(inst)).toEqual(lines);
  const active = exported.keys.find((k) => k.role === "encrypt")!;
  expect(Buffer.from(lines[1]!, "base64").toString("base64url")).toBe(active.key);
});

describeTicketFleet("two HAProxy instances on the exported haproxy keys", ["1.2", "1.3"], () => ({
  service: service!,
  adminToken: service!.tokens.admin!,
  a: instances.a,
  b: instances.b,
  dir: dir!.path,
  path: PATH,
  async syncKeys() {
    const exported = await currentExport();
    const lines = exported.files![0]!.content.trimEnd().split("\n");
    await Promise.all(
      (["a", "b"] as const).map(async (name) => {
        const inst = instances[name];
        const r = await stekSync(join(inst.dir, "esr"), ["--haproxy-socket", inst.socket]);
        const applied = r.events.find((e) => e.event === "keys_applied");
        expect([r.code, applied?.via], JSON.stringify(r.events)).toEqual([0, "runtime_api"]);
        pushes[name].push(applied!.pushed as number);
        expect(await heldKeys(inst)).toEqual(lines);
      }),
    );
  },
  // HAProxy writes the key's first 16 bytes in clear first: the export's `name`.
  ticketKey: (ticket) => ticket.subarray(0, 16).toString("hex"),
  activeKey: async () => (await currentExport()).keys.find((k) => k.role === "encrypt")!.name,
}));

describe("HAProxy's runtime API instead of reloads", () => {
  it("a rotation took one set ssl tls-key, a revoke at most three; the instances were never reloaded", async () => {
    for (const name of ["a", "b"] as const) {
      expect(pushes[name]).toHaveLength(2);
      expect(pushes[name][0]).toBe(1);
      expect(pushes[name][1]).toBeGreaterThanOrEqual(1);
      expect(pushes[name][1]).toBeLessThanOrEqual(3);
      // The very processes the test started, still running and listening.
      const inst = instances[name];
      expect(inst.proc.child.exitCode).toBeNull();
      await waitForPort(inst.port, 2000);
    }
  });

  it("when the runtime API cannot be reached, the files are written and the reload command runs", async () => {
    const keysDir = join(dir!.path, "fallback", "esr");
    const marker = join(dir!.path, "fallback", "reloaded");
    const r = await stekSync(keysDir, ["--haproxy-socket", join(dir!.path, "fallback", "no.sock"), "--reload", `touch ${marker}`]);
    expect(r.code).toBe(0);
    expect(r.events.map((e) => e.event)).toEqual(["keys_written", "runtime_api_failed", "reloaded"]);
    expect(r.events[1]).toMatchObject({ code: "unreachable", fallback: "reload" });
    expect(existsSync(marker)).toBe(true);
    expect(readFileSync(join(keysDir, "tls-ticket-keys"), "utf8")).toBe((await currentExport()).files![0]!.content);
  });

  it("when neither works the revision is forgotten, so the next poll tries again", async () => {
    const keysDir = join(dir!.path, "failing", "esr");
    const first = await stekSync(keysDir, ["--haproxy-socket", join(dir!.path, "failing", "no.sock"), "--reload", "exit 3"]);
    expect(first.code).toBe(1);
    expect(existsSync(join(keysDir, ".revision"))).toBe(false);
    const second = await stekSync(keysDir, ["--haproxy-socket", join(dir!.path, "failing", "no.sock"), "--reload", "true"]);
    expect([second.code, second.events[0]!.event]).toEqual([0, "keys_written"]);
  });
});
