/**
 * Two Go servers from examples/go-tls-server (built with Debian's golang-go,
 * standard library only) holding the service's `go` export through
 * tls.Config.SetSessionTicketKeys: tickets resume across them with TLS 1.2
 * and 1.3, through a rotation (renewed) and not past a revoke
 * (ticket-fleet.ts). The servers poll the export on their own; the test
 * sends SIGHUP to make them poll at once after a key change, and waits for
 * the revision to show in their log.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ResumptionClient } from "../../src/client/index.js";
import { run, start, stopAll, tempDir, type Proc } from "./procs.js";
import { startService, type Service } from "./service.js";
import { describeTicketFleet, type TicketNode } from "./ticket-fleet.js";
import { makeCertificate } from "./tls.js";

const GO = process.env.GO ?? "/usr/bin/go";
const SOURCE = fileURLToPath(new URL("../../examples/go-tls-server/", import.meta.url));

let service: Service | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let stek: ResumptionClient;
const nodes: Record<"a" | "b", TicketNode & { proc: Proc }> = {} as never;

/** go build into the test's directory: a few seconds cold, well under one with Go's build cache. */
async function buildServer(out: string): Promise<string> {
  const binary = join(out, "go-tls-server");
  const env = {
    ...process.env,
    // A cache that outlives the run (CI machines start without one), and no network.
    GOCACHE: process.env.GOCACHE ?? join(tmpdir(), "esr-e2e-go-build"),
    GOPATH: process.env.GOPATH ?? join(tmpdir(), "esr-e2e-gopath"),
    GOFLAGS: "-mod=mod",
    GOPROXY: "off",
  };
  const r = await run("go build", GO, ["build", "-o", binary, "."], { env, cwd: SOURCE, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`go build failed (${r.code}): ${r.stdout}${r.stderr}`);
  return binary;
}

async function startServer(binary: string, name: "a" | "b", cert: { cert: string; key: string }): Promise<void> {
  const proc = start(`go ${name}`, binary, ["-service", service!.url, "-cert", cert.cert, "-key", cert.key, "-addr", "127.0.0.1:0", "-name", name], {
    env: { ...process.env, ESR_TOKEN: service!.tokens.stek },
  });
  const m = await proc.waitForLine(/"event":"listening".*"port":(\d+)/);
  expect(proc.stdout()).toMatch(/"event":"listening".*"ticket_keys":"shared"/);
  nodes[name] = { name, port: Number(m[1]), proc };
}

/** SIGHUP: poll now; resolves once the server logs the export's current revision. */
async function repoll(node: { proc: Proc }, revision: string): Promise<void> {
  const logged = () => node.proc.stdout().includes(`"revision":"${revision}"`);
  if (logged()) return;
  node.proc.child.kill("SIGHUP");
  const escaped = revision.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  await node.proc.waitForLine(new RegExp(`"event":"ticket_keys".*"revision":"${escaped}"`), 10_000);
}

async function currentExport() {
  const r = await stek.exportKeys("go");
  if (!r.ok) throw r.error;
  return r.value;
}

beforeAll(async () => {
  if (!existsSync(GO)) throw new Error(`go not found at ${GO}: install Debian's golang-go (apt-get install golang-go) or set GO. This test does not skip.`);
  dir = tempDir("go-server");
  // The build and the service start at once.
  const [binary, started] = await Promise.all([
    buildServer(dir.path),
    startService({ clock: "controlled", grants: { stek: { scopes: ["stek"] }, admin: { scopes: ["admin", "keys"] } } }),
  ]);
  service = started;
  stek = new ResumptionClient({ baseUrl: service.url, token: service.tokens.stek!, timeout: 5000 });
  const cert = await makeCertificate(dir.path);
  await Promise.all([startServer(binary, "a", cert), startServer(binary, "b", cert)]);
}, 150_000);

afterAll(async () => {
  await stopAll();
  await service?.stop();
  dir?.remove();
});

it("both servers hold the service's go export, the active key first", async () => {
  const exported = await currentExport();
  for (const node of [nodes.a, nodes.b]) {
    const line = node.proc.stdout().split("\n").find((l) => l.includes('"event":"ticket_keys"'))!;
    expect(JSON.parse(line)).toMatchObject({ revision: exported.revision, key_names: exported.keys.map((k) => k.name) });
  }
});

describeTicketFleet("two Go servers on the exported go keys", ["1.2", "1.3"], () => ({
  service: service!,
  adminToken: service!.tokens.admin!,
  a: nodes.a,
  b: nodes.b,
  dir: dir!.path,
  async syncKeys() {
    const { revision } = await currentExport();
    await Promise.all([repoll(nodes.a, revision), repoll(nodes.b, revision)]);
  },
  // Go (up to 1.20) writes SHA-512(key)[0:16] in clear first: the export's `name`.
  ticketKey: (ticket) => ticket.subarray(0, 16).toString("hex"),
  activeKey: async () => (await currentExport()).keys.find((k) => k.role === "encrypt")!.name,
}));
