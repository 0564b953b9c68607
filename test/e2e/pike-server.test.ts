/**
 * Pike 8.0 servers from examples/pike-tls-server (Debian's pike8.0): their
 * SSL.Context hooks seal and open TLS 1.2 tickets through the service and
 * keep session ids in its store, so that a session made on one resumes on
 * another:
 *
 * - tickets: the shared scenario of ticket-fleet.ts (across nodes, tampered,
 *   through a rotation renewed, not past a revoke); the service does the
 *   ticket crypto, so there are no keys to sync;
 * - the SNI as RFC 6066 compares it (ASCII case-insensitively), where Pike
 *   compares the client's bytes and the service keeps them lowercase;
 * - session ids only (a server started with --no-tickets);
 * - a service that never answers costs a full handshake within the deadline.
 */
import { existsSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ResumptionClient } from "../../src/client/index.js";
import { freePort, start, stopAll, tempDir, type Proc } from "./procs.js";
import { startService, type Service } from "./service.js";
import { describeTicketFleet, type TicketNode } from "./ticket-fleet.js";
import { makeCertificate, sClient, sessionTicket, tamperSession } from "./tls.js";

const PIKE = process.env.PIKE ?? "/usr/bin/pike8.0";
const SERVER = fileURLToPath(new URL("../../examples/pike-tls-server/server.pike", import.meta.url));

let service: Service | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let admin: ResumptionClient;
let cert: { cert: string; key: string };
let blackHole: Server | undefined;
const held: Socket[] = [];
const nodes: Record<string, TicketNode & { proc: Proc }> = {};
const file = (name: string) => join(dir!.path, name);

async function startPike(name: string, serviceUrl: string, extra: string[] = []): Promise<void> {
  const proc = start(`pike ${name}`, PIKE, [SERVER, "--service", serviceUrl, "--cert", cert.cert, "--key", cert.key, "--port", "0", "--name", name, ...extra], {
    env: { ...process.env, ESR_TOKEN: service!.tokens.pike },
  });
  const m = await proc.waitForLine(/"event":"listening".*"port":(\d+)/, 20_000);
  nodes[name] = { name, port: Number(m[1]), proc };
}

/** The ring key a service ticket was sealed under: bytes 1 to 3 of its header (docs/ticket-format.md). */
const ticketKeyId = (ticket: Buffer) => String(ticket.readUIntBE(1, 3));

async function activeKeyId(): Promise<string> {
  const r = await admin.getKeys();
  if (!r.ok) throw r.error;
  return String(r.value.keys.find((k) => k.state === "active")!.id);
}

beforeAll(async () => {
  if (!existsSync(PIKE)) throw new Error(`pike not found at ${PIKE}: install Debian's pike8.0 (apt-get install pike8.0) or set PIKE. This test does not skip.`);
  dir = tempDir("pike");
  service = await startService({
    clock: "controlled",
    grants: { pike: { scopes: ["tickets", "sessions"] }, admin: { scopes: ["admin", "keys", "sessions", "tickets"] } },
  });
  admin = new ResumptionClient({ baseUrl: service.url, token: service.tokens.admin!, timeout: 5000 });
  cert = await makeCertificate(dir.path);
  blackHole = createServer((s) => held.push(s.on("error", () => {})));
  await new Promise<void>((r) => blackHole!.listen(0, "127.0.0.1", () => r()));
  const silent = `http://127.0.0.1:${(blackHole.address() as { port: number }).port}`;
  // Nothing listens there (a port that was free a moment ago).
  const absent = `http://127.0.0.1:${await freePort()}`;
  // A, B and C get a generous deadline: this suite shares two cores with
  // others, and the point is resumption across nodes. D has the default
  // 100 ms, against a service that never answers.
  await Promise.all([
    startPike("a", service.url, ["--timeout", "2000"]),
    startPike("b", service.url, ["--timeout", "2000"]),
    startPike("c", service.url, ["--timeout", "2000", "--no-tickets"]),
    startPike("d", silent),
    startPike("e", absent),
  ]);
}, 90_000);

afterAll(async () => {
  await stopAll();
  for (const s of held) s.destroy();
  await new Promise<void>((r) => (blackHole ? blackHole.close(() => r()) : r()));
  await service?.stop();
  dir?.remove();
});

describeTicketFleet("two Pike servers whose tickets the service seals and opens", ["1.2"], () => ({
  service: service!,
  adminToken: service!.tokens.admin!,
  a: nodes.a!,
  b: nodes.b!,
  dir: dir!.path,
  // The service's ring is the only key: nothing to move to the servers.
  syncKeys: async () => {},
  ticketKey: ticketKeyId,
  activeKey: activeKeyId,
}));

describe("the SNI, compared as RFC 6066 says", () => {
  it("a client that sends its SNI in capitals resumes on the other server (the service keeps it lowercase, Pike the client's bytes)", async () => {
    const first = await sClient(nodes.a!.port, { version: "1.2", serverName: "Resume.Test", sessOut: file("upper.sess") });
    expect(first.reused).toBe(false);
    const opened = await admin.openTicket((await sessionTicket(file("upper.sess"))).toString("base64url"));
    expect(opened.ok && opened.value.session.server_name).toBe("resume.test");
    const again = await sClient(nodes.b!.port, { version: "1.2", serverName: "Resume.Test", sessIn: file("upper.sess") });
    expect(again.reused, again.output).toBe(true);
    expect(again.response).toContain("b TLSv1.2 reused=true");
    expect((await sClient(nodes.b!.port, { version: "1.2", serverName: "RESUME.test", sessIn: file("upper.sess") })).reused).toBe(true);
  });

  it("a ticket made for one name costs a full handshake under another", async () => {
    await sClient(nodes.a!.port, { version: "1.2", serverName: "resume.test", sessOut: file("named.sess") });
    const other = await sClient(nodes.b!.port, { version: "1.2", serverName: "other.test", sessIn: file("named.sess") });
    expect(other.reused, other.output).toBe(false);
  });
});

describe("session ids only", () => {
  it("a session id from server C (--no-tickets) resumes on server A through the store", async () => {
    const first = await sClient(nodes.c!.port, { version: "1.2", sessOut: file("sid.sess") });
    expect(first.reused).toBe(false);
    // C offers no ticket even to a client that asks: the id is the only handle.
    expect(first.output).not.toMatch(/TLS session ticket:/);
    const id = first.sessionId!.toLowerCase();
    expect(id).toHaveLength(64);
    // Stored before C sent its Finished: the session is there the moment the client has it.
    const stored = await admin.getSession(id);
    expect(stored.ok && stored.value.session).toMatchObject({ version: "TLSv1.2", server_name: "resume.test" });
    const again = await sClient(nodes.a!.port, { version: "1.2", noTicket: true, sessIn: file("sid.sess") });
    expect(again.reused, again.output).toBe(true);
    expect(again.response).toContain("a TLSv1.2 reused=true");
    expect(nodes.a!.proc.stdout()).toContain(`"event":"session_hit"`);
  });

  it("a session id the store does not hold costs a full handshake", async () => {
    const first = await sClient(nodes.c!.port, { version: "1.2", sessOut: file("sid-2.sess") });
    tamperSession(file("sid-2.sess"), file("sid-unknown.sess"), Buffer.from(first.sessionId!, "hex"));
    const again = await sClient(nodes.a!.port, { version: "1.2", noTicket: true, sessIn: file("sid-unknown.sess") });
    expect(again.reused, again.output).toBe(false);
    expect(nodes.a!.proc.stdout()).toMatch(/"event":"session_miss","code":"session_not_found"/);
  });

  it("stored sessions are not under the ring's keys: one stored before the revoke still resumes", async () => {
    // The ticket scenario above ended with a revoke; sid.sess was stored
    // before it, under the store's MASTER_KEY-derived key (docs/session-store.md).
    const again = await sClient(nodes.c!.port, { version: "1.2", sessIn: file("sid.sess") });
    expect(again.reused, again.output).toBe(true);
  });
});

describe("a slow or absent service", () => {
  it("a service that never answers costs a full handshake within the 100 ms deadline, then nothing while the client backs off; the server keeps serving", async () => {
    await sClient(nodes.a!.port, { version: "1.2", sessOut: file("for-d.sess") });
    const started = Date.now();
    const h = await sClient(nodes.d!.port, { version: "1.2", sessIn: file("for-d.sess") });
    const elapsed = Date.now() - started;
    expect([h.reused, h.protocol]).toEqual([false, "TLSv1.2"]);
    expect(h.response).toContain("d TLSv1.2 reused=false");
    // decode_ticket gave up after 100 ms; encode_ticket then failed at once
    // (backoff) and sent RFC 5077's empty ticket. openssl's own start-up is the rest.
    expect(elapsed).toBeLessThan(2000);
    const log = nodes.d!.proc.stdout();
    expect(log).toMatch(/"event":"ticket_refused","code":"timeout"/);
    expect(log).toMatch(/"event":"ticket_seal_failed"/);
    const next = await sClient(nodes.d!.port, { version: "1.2" });
    expect(next.response).toContain("d TLSv1.2 reused=false");
    expect(nodes.d!.proc.child.exitCode).toBeNull();
  });

  it("a service nobody listens for costs a full handshake and no wait", async () => {
    const h = await sClient(nodes.e!.port, { version: "1.2", sessIn: file("for-d.sess") });
    expect([h.reused, h.response.includes("e TLSv1.2 reused=false")]).toEqual([false, true]);
    expect(nodes.e!.proc.stdout()).toMatch(/"event":"ticket_refused","code":"unreachable"/);
    expect(nodes.e!.proc.child.exitCode).toBeNull();
  });
});
