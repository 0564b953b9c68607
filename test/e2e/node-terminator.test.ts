/**
 * Two terminators from examples/node-tls-terminator on two ports, one local
 * service: a session made on A resumes on B, with TLS 1.2 session ids through
 * the session store and with TLS 1.3 tickets under the shared node48 key.
 * openssl s_client is the client. Every process is stopped in afterAll, on
 * failure too.
 */
import { constants } from "node:crypto";
import { connect as netConnect } from "node:net";
import { join } from "node:path";
import { createServer, type Server } from "node:net";
import { connect as tlsConnect, createSecureContext, type SecureContext } from "node:tls";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResumptionClient } from "../../src/client/index.js";
import { describeSession } from "../../examples/node-tls-terminator/session-der.mjs";
import { start, stopAll, tempDir, type Proc } from "./procs.js";
import { startService, type Service } from "./service.js";
import { makeCertificate, sClient } from "./tls.js";

const TERMINATOR = fileURLToPath(new URL("../../examples/node-tls-terminator/terminator.mjs", import.meta.url));

let service: Service | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let blackHole: Server | undefined;
const held: import("node:net").Socket[] = [];
let admin: ResumptionClient;
let cert: { cert: string; key: string };
const ports: Record<string, number> = {};
const procs: Record<string, Proc> = {};

/** Polls until check() is true (every 50 ms, at most timeoutMs); resolves with the last answer. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function terminator(name: string, serviceUrl: string, extra: string[] = []): Promise<number> {
  const p = start(`terminator ${name}`, process.execPath, [TERMINATOR, "--service", serviceUrl, "--cert", cert.cert, "--key", cert.key, "--port", "0", "--name", name, ...extra], {
    env: { ...process.env, ESR_TOKEN: service!.tokens.terminator },
  });
  procs[name] = p;
  const m = await p.waitForLine(/"event":"listening".*"port":(\d+)/);
  return Number(m[1]);
}

beforeAll(async () => {
  dir = tempDir("node-terminator");
  // The terminators' token holds exactly what they need: the store and the ticket keys.
  service = await startService({
    grants: { terminator: { scopes: ["sessions", "stek"] }, admin: { scopes: ["sessions", "admin", "keys"] } },
  });
  admin = new ResumptionClient({ baseUrl: service.url, token: service.tokens.admin!, timeout: 5000 });
  cert = await makeCertificate(dir.path);
  // A and B get a generous per-call deadline: this suite runs beside the
  // others on two cores, and the point here is cross-node resumption. The
  // default 100 ms deadline is what terminator C exercises.
  [ports.a, ports.b] = await Promise.all([terminator("a", service.url, ["--timeout", "2000"]), terminator("b", service.url, ["--timeout", "2000"])]);
});

/** TLS 1.2 with session ids only (no tickets): the store's path. Made once, shared by every connection. */
let idOnlyContext: SecureContext | undefined;

/**
 * A TLS 1.2 handshake to `first`, and the moment the client has its session
 * (in the same callback), a second connection to `second` offering it: over
 * a TCP connection opened beforehand, so that its ClientHello is written
 * right there. Resolves with whether it resumed and how long after the first
 * handshake completed the ClientHello was on its way.
 */
async function handshakeThenReconnect(first: number, second: number): Promise<{ reused: boolean; gapMs: number }> {
  idOnlyContext ??= createSecureContext({ maxVersion: "TLSv1.2", secureOptions: constants.SSL_OP_NO_TICKET });
  const options = { servername: "resume.test", rejectUnauthorized: false, secureContext: idOnlyContext } as const;
  const raw = netConnect(second, "127.0.0.1");
  await new Promise<void>((resolve, reject) => raw.once("connect", resolve).once("error", reject));
  return new Promise((resolve, reject) => {
    const a = tlsConnect({ ...options, host: "127.0.0.1", port: first });
    a.once("error", reject);
    a.once("secureConnect", () => {
      const at = performance.now();
      const b = tlsConnect({ ...options, socket: raw, session: a.getSession()! });
      const gapMs = performance.now() - at;
      b.once("error", reject);
      b.once("secureConnect", () => {
        resolve({ reused: b.isSessionReused(), gapMs });
        a.destroy();
        b.destroy();
      });
    });
  });
}

afterAll(async () => {
  await stopAll();
  for (const s of held) s.destroy();
  await new Promise<void>((r) => (blackHole ? blackHole.close(() => r()) : r()));
  await service?.stop();
  dir?.remove();
});

describe("two Node terminators, one service", () => {
  it("TLS 1.2: a session id from node A resumes on node B through the store", async () => {
    const sess = join(dir!.path, "tls12.sess");
    const first = await sClient(ports.a!, { version: "1.2", noTicket: true, sessOut: sess });
    expect([first.reused, first.protocol]).toEqual([false, "TLSv1.2"]);
    expect(first.response).toContain("a TLSv1.2 reused=false");
    const id = first.sessionId!.toLowerCase();
    // The session is in the store, with its SNI, before the handshake ended.
    const stored = await admin.getSession(id);
    expect(stored.ok && stored.value.session.server_name).toBe("resume.test");
    expect(stored.ok && stored.value.session.opaque).toBeTruthy();

    const second = await sClient(ports.b!, { version: "1.2", noTicket: true, sessIn: sess });
    expect([second.reused, second.protocol], second.output).toEqual([true, "TLSv1.2"]);
    expect(second.response).toContain("b TLSv1.2 reused=true");
    expect(procs.b!.stdout()).toContain(`"event":"session_hit","id":"${id}"`);
  });

  it("TLS 1.3: a ticket from node A resumes on node B, both holding the exported node48 key", async () => {
    const keyName = (p: Proc) => /"event":"ticket_key".*?"key_name":"([0-9a-f]{32})"/.exec(p.stdout())?.[1];
    expect(keyName(procs.a!)).toBeDefined();
    expect(keyName(procs.a!)).toBe(keyName(procs.b!));
    // …and it is the key the service exports.
    const exported = await admin.exportKeys("node48");
    expect(exported.ok && exported.value.keys[0]!.name).toBe(keyName(procs.a!));
    const sess = join(dir!.path, "tls13.sess");
    const first = await sClient(ports.a!, { version: "1.3", sessOut: sess });
    expect([first.reused, first.protocol]).toEqual([false, "TLSv1.3"]);
    const second = await sClient(ports.b!, { version: "1.3", sessIn: sess });
    expect([second.reused, second.protocol], second.output).toEqual([true, "TLSv1.3"]);
    expect(second.response).toContain("b TLSv1.3 reused=true");
  });

  it("a TLS 1.2 connection that ends with a reset deletes its session from the store", async () => {
    // A raw socket under the TLS client, so the test can reset it (RST) after the handshake.
    const raw = netConnect(ports.a!, "127.0.0.1");
    await new Promise<void>((resolve, reject) => raw.once("connect", resolve).once("error", reject));
    const tls = tlsConnect({ socket: raw, servername: "resume.test", rejectUnauthorized: false, maxVersion: "TLSv1.2", secureOptions: constants.SSL_OP_NO_TICKET });
    tls.on("error", () => {});
    await new Promise<void>((resolve, reject) => tls.once("secureConnect", resolve).once("error", reject));
    const id = describeSession(tls.getSession()!)!.sessionId.toString("hex");
    // The terminator stores the session as soon as its side of the handshake is done (before serving a byte).
    expect(await waitFor(async () => {
      const r = await admin.hasSession(id);
      return r.ok && r.value;
    })).toBe(true);
    raw.resetAndDestroy();
    // The delete comes within a second of the store: KV's one write a second per key makes it wait for Retry-After.
    const gone = await waitFor(async () => {
      const r = await admin.hasSession(id);
      return r.ok && !r.value;
    });
    expect(gone, procs.a!.stdout()).toBe(true);
    // The terminator logs the delete once the service's answer reaches it, which may be after the store already shows it gone.
    const logged = await waitFor(async () => procs.a!.stdout().includes(`"event":"session_deleted","id":"${id}"`));
    expect(logged, procs.a!.stdout()).toBe(true);
  });

  it("a client that reconnects at once resumes its TLS 1.2 session on either node: 25 times each, every one resumed", async () => {
    // The session is stored before the terminator lets the handshake finish,
    // so it is in the store before the client can hold it.
    // Causality, not timing, is what the test relies on: the gaps are reported, not asserted.
    const outcomes: Record<"a" | "b", boolean[]> = { a: [], b: [] };
    const gaps: number[] = [];
    for (const target of ["a", "b"] as const) {
      for (let i = 0; i < 25; i++) {
        const r = await handshakeThenReconnect(ports.a!, ports[target]!);
        outcomes[target].push(r.reused);
        gaps.push(r.gapMs);
      }
    }
    gaps.sort((x, y) => x - y);
    console.log(
      `immediate reconnects: same node ${outcomes.a.filter(Boolean).length}/25 resumed, other node ${outcomes.b.filter(Boolean).length}/25 resumed; ` +
        `the second ClientHello written ${gaps[gaps.length >> 1]!.toFixed(2)} ms (median), ${gaps.at(-1)!.toFixed(2)} ms (max) after the first handshake completed`,
    );
    expect(outcomes.a).toEqual(Array(25).fill(true));
    expect(outcomes.b).toEqual(Array(25).fill(true));
  });

  it("a client offering TLS 1.3 costs no store lookup; every TLS 1.3 resumption hands out one fresh ticket, which resumes on the other node", async () => {
    const lookups = () => (procs.a!.stdout().match(/"event":"session_(hit|miss)"/g) ?? []).length + (procs.b!.stdout().match(/"event":"session_(hit|miss)"/g) ?? []).length;
    const before = lookups();
    let sess = join(dir!.path, "chain-0.sess");
    await sClient(ports.a!, { version: "1.3", sessOut: sess });
    for (let i = 1; i <= 4; i++) {
      const next = join(dir!.path, `chain-${i}.sess`);
      const h = await sClient(i % 2 ? ports.b! : ports.a!, { version: "1.3", sessIn: sess, sessOut: next });
      expect(h.reused, h.output).toBe(true);
      // The renewed ticket (s_client writes the session of each NewSessionTicket).
      expect(h.output.match(/Post-Handshake New Session Ticket arrived/g)?.length, h.output).toBe(1);
      sess = next;
    }
    // openssl sends a random legacy session id with every TLS 1.3 ClientHello: none was looked up.
    expect(lookups()).toBe(before);
  });

  it("a service that never answers costs a full handshake within the 100 ms deadline, never a hung connection", async () => {
    // Accepts connections and never answers.
    blackHole = createServer((s) => held.push(s.on("error", () => {})));
    await new Promise<void>((r) => blackHole!.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(blackHole.address() as { port: number }).port}`;
    // Default deadline (100 ms); its startup key fetch (2 s deadline) fails and it starts with its own key.
    const port = await terminator("c", url);
    const sess = join(dir!.path, "tls12-a.sess");
    await sClient(ports.a!, { version: "1.2", noTicket: true, sessOut: sess });
    const started = Date.now();
    const h = await sClient(port, { version: "1.2", noTicket: true, sessIn: sess });
    const elapsed = Date.now() - started;
    expect([h.reused, h.protocol]).toEqual([false, "TLSv1.2"]);
    expect(h.response).toContain("c TLSv1.2 reused=false");
    // resumeSession (100 ms) and newSession (100 ms) each gave up; openssl's own start-up is the rest.
    expect(elapsed).toBeLessThan(2000);
    expect(procs.c!.stdout()).toMatch(/"event":"session_miss".*"code":"timeout"/);
    expect(procs.c!.stdout()).toMatch(/"event":"session_store_failed".*"code":"timeout"/);
  });
});
