/**
 * Two nginx instances (Debian's /usr/sbin/nginx) on two ports, each loading
 * the ticket keys the service exports (examples/stek-sync writes them,
 * examples/nginx/esr-tickets.conf loads them): a ticket from nginx A
 * resumes on nginx B; after a forced rotation old tickets still resume until
 * their key expires; after a revoke they no longer do.
 *
 * Time: the service runs on a clock the test moves forward (clock:
 * "controlled", test/e2e/worker-clock.ts), so the successor key is old
 * enough to take over (prepublish_lead) and the old key reaches its expiry
 * without sleeping. nginx and openssl run on the real clock: their own
 * session lifetimes (ssl_session_timeout 2h) are never in play. nginx reads
 * its keys only at start and reload: after each re-export the test reloads
 * both instances (SIGHUP) and waits until the old workers are gone.
 *
 * The tests of this file build on each other, in order.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResumptionClient, type StekExport } from "../../src/client/index.js";
import { freePort, run, start, stopAll, tempDir, waitForPort, type Proc } from "./procs.js";
import { startService, type Service } from "./service.js";
import { makeCertificate, sClient, ticketKeyName } from "./tls.js";

const NGINX = process.env.NGINX ?? "/usr/sbin/nginx";
const STEK_SYNC = fileURLToPath(new URL("../../examples/stek-sync/stek-sync.mjs", import.meta.url));
const TICKETS_CONF = fileURLToPath(new URL("../../examples/nginx/esr-tickets.conf", import.meta.url));
const DOCS = fileURLToPath(new URL("../../docs/proxies.md", import.meta.url));

interface Nginx {
  name: string;
  dir: string;
  port: number;
  proc: Proc;
}

let service: Service | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let admin: ResumptionClient;
let stek: ResumptionClient;
let cert: { cert: string; key: string };
let a: Nginx;
let b: Nginx;

/** The server block the tests run: TLS on 127.0.0.1, and the ticket snippet the docs quote. */
function nginxConf(name: string, port: number): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path tmp/body;
  proxy_temp_path tmp/proxy;
  fastcgi_temp_path tmp/fastcgi;
  uwsgi_temp_path tmp/uwsgi;
  scgi_temp_path tmp/scgi;
  server {
    listen 127.0.0.1:${port} ssl;
    server_name resume.test;
    ssl_certificate ${cert.cert};
    ssl_certificate_key ${cert.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    include ${TICKETS_CONF};
    location / { return 200 "${name} $ssl_protocol reused=$ssl_session_reused\\n"; }
  }
}
`;
}

/** examples/stek-sync, once, into the instance's esr/ directory. */
async function syncKeys(inst: { dir: string }): Promise<{ revision: string; changed: boolean }> {
  const r = await run("stek-sync", process.execPath, [STEK_SYNC, "--once", "--service", service!.url, "--format", "nginx80", "--slots", "4", "--dir", join(inst.dir, "esr")], {
    env: { ...process.env, ESR_TOKEN: service!.tokens.stek },
  });
  if (r.code !== 0) throw new Error(`stek-sync failed (${r.code}): ${r.stdout}${r.stderr}`);
  const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { revision: string; changed: boolean };
  return summary;
}

async function startNginx(name: string): Promise<Nginx> {
  const instDir = join(dir!.path, name);
  mkdirSync(join(instDir, "tmp"), { recursive: true });
  await syncKeys({ dir: instDir });
  // A free port, retried if another process takes it first.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    writeFileSync(join(instDir, "nginx.conf"), nginxConf(name, port));
    const proc = start(`nginx ${name}`, NGINX, ["-p", `${instDir}/`, "-c", join(instDir, "nginx.conf")]);
    try {
      await Promise.race([
        waitForPort(port, 10_000),
        proc.exited.then((code) => {
          throw new Error(`nginx ${name} exited (${code}): ${proc.stderr()}${errorLog(instDir)}`);
        }),
      ]);
      return { name, dir: instDir, port, proc };
    } catch (e) {
      await proc.stop();
      if (attempt >= 3 || !/Address already in use/.test(String(e))) throw e;
    }
  }
}

function errorLog(instDir: string): string {
  const path = join(instDir, "error.log");
  return existsSync(path) ? readFileSync(path, "utf8").split("\n").slice(-20).join("\n") : "";
}

/** The processes whose parent is pid (nginx's workers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** nginx -s reload, done: SIGHUP to the master, then wait until every old worker has exited and a new one runs. */
async function reload(inst: Nginx): Promise<void> {
  const master = inst.proc.child.pid!;
  const before = childrenOf(master);
  process.kill(master, "SIGHUP");
  const until = Date.now() + 10_000;
  for (;;) {
    const now = childrenOf(master);
    if (now.length > 0 && !now.some((p) => before.includes(p))) return;
    if (Date.now() > until) throw new Error(`nginx ${inst.name} did not reload: ${errorLog(inst.dir)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function resyncAndReload(): Promise<void> {
  // The service's own copy of the ring first (GET /v1/keys fetches it): the clock jumped.
  expect((await admin.getKeys()).ok).toBe(true);
  for (const inst of [a, b]) {
    const { changed } = await syncKeys(inst);
    expect(changed).toBe(true);
    await reload(inst);
  }
}

async function exported(): Promise<StekExport> {
  const r = await stek.exportKeys("nginx80", { slots: 4 });
  if (!r.ok) throw r.error;
  return r.value;
}

const file = (name: string) => join(dir!.path, name);

beforeAll(async () => {
  if (!existsSync(NGINX)) throw new Error(`nginx not found at ${NGINX}: install Debian's nginx (apt-get install nginx) or set NGINX. This test does not skip.`);
  dir = tempDir("nginx");
  service = await startService({
    clock: "controlled",
    grants: { stek: { scopes: ["stek"] }, admin: { scopes: ["admin", "keys"] } },
  });
  admin = new ResumptionClient({ baseUrl: service.url, token: service.tokens.admin!, timeout: 5000 });
  stek = new ResumptionClient({ baseUrl: service.url, token: service.tokens.stek!, timeout: 5000 });
  cert = await makeCertificate(dir.path);
  [a, b] = await Promise.all([startNginx("a"), startNginx("b")]);
});

afterAll(async () => {
  await stopAll();
  await service?.stop();
  dir?.remove();
});

describe("two nginx instances with exported ticket keys", () => {
  let k1: StekExport["keys"][number];
  let k2: StekExport["keys"][number];

  it("the docs quote the ticket snippet these instances load", () => {
    expect(readFileSync(DOCS, "utf8")).toContain(readFileSync(TICKETS_CONF, "utf8").trim());
  });

  it("a ticket from nginx A resumes on nginx B (TLS 1.2 and 1.3)", async () => {
    const keys = await exported();
    k1 = keys.keys[0]!;
    expect([k1.state, k1.role]).toEqual(["active", "encrypt"]);

    const first = await sClient(a.port, { version: "1.2", sessOut: file("k1.sess") });
    expect([first.reused, first.protocol]).toEqual([false, "TLSv1.2"]);
    // nginx encrypts with the first key file: the ticket names the active key.
    expect(await ticketKeyName(file("k1.sess"))).toBe(k1.name);
    const second = await sClient(b.port, { version: "1.2", sessIn: file("k1.sess") });
    expect([second.reused, second.protocol], second.output).toEqual([true, "TLSv1.2"]);
    expect(second.response).toContain("b TLSv1.2 reused=r");

    await sClient(a.port, { version: "1.3", sessOut: file("k1-13.sess") });
    const third = await sClient(b.port, { version: "1.3", sessIn: file("k1-13.sess") });
    expect([third.reused, third.protocol], third.output).toEqual([true, "TLSv1.3"]);
  });

  it("after a forced rotation, old tickets still resume, renewed under the new key", async () => {
    // The successor was published when the ring was made: once prepublish_lead
    // (600 s) has passed, a rotation promotes it at once.
    await service!.advanceClock(600);
    const rotated = await admin.rotateKeys();
    if (!rotated.ok) throw rotated.error;
    expect(rotated.value.activates_at).toBe(rotated.value.now);
    await resyncAndReload();

    const keys = await exported();
    k2 = keys.keys[0]!;
    expect(k2.id).not.toBe(k1.id);
    expect(keys.keys.find((k) => k.id === k1.id)).toMatchObject({ state: "retiring", role: "decrypt" });

    // The k1 tickets resume on B…
    const old = await sClient(b.port, { version: "1.2", sessIn: file("k1.sess") });
    expect(old.reused, old.output).toBe(true);
    // …which renews them under k2 (nginx renews a ticket of any key but the
    // first; s_client writes the renewed session for TLS 1.3 only).
    const old13 = await sClient(b.port, { version: "1.3", sessIn: file("k1-13.sess"), sessOut: file("k1-13-renewed.sess") });
    expect(old13.reused, old13.output).toBe(true);
    expect(await ticketKeyName(file("k1-13-renewed.sess"))).toBe(k2.name);
    // New tickets are under k2, from either instance.
    await sClient(a.port, { version: "1.2", sessOut: file("k2.sess") });
    expect(await ticketKeyName(file("k2.sess"))).toBe(k2.name);
    expect((await sClient(b.port, { version: "1.2", sessIn: file("k2.sess") })).reused).toBe(true);
  });

  it("…until their key expires", async () => {
    const now = await service!.now();
    await service!.advanceClock(k1.expires_at - now);
    await resyncAndReload();
    const keys = await exported();
    expect(keys.keys.map((k) => k.id)).not.toContain(k1.id);
    expect(keys.keys.map((k) => k.id)).toContain(k2.id);

    const old = await sClient(b.port, { version: "1.2", sessIn: file("k1.sess") });
    expect(old.reused, old.output).toBe(false);
    // k2 still decrypts: its ticket resumes.
    expect((await sClient(b.port, { version: "1.2", sessIn: file("k2.sess") })).reused).toBe(true);
  });

  it("after a revoke, tickets under the revoked keys no longer resume", async () => {
    const revoked = await admin.rotateKeys({ revoke: true });
    if (!revoked.ok) throw revoked.error;
    expect(revoked.value.revoked).toContain(k2.id);
    await resyncAndReload();
    const keys = await exported();
    expect(keys.keys.map((k) => k.id)).not.toContain(k2.id);

    expect((await sClient(b.port, { version: "1.2", sessIn: file("k2.sess") })).reused).toBe(false);
    // The fleet resumes again under the new key.
    await sClient(a.port, { version: "1.2", sessOut: file("k3.sess") });
    expect(await ticketKeyName(file("k3.sess"))).toBe(keys.keys[0]!.name);
    expect((await sClient(b.port, { version: "1.2", sessIn: file("k3.sess") })).reused).toBe(true);
  });
});
