/**
 * Debian's Chromium through one address in front of two Node terminators
 * (examples/node-tls-terminator), as a browser meets a fleet behind a load
 * balancer: a TCP proxy sends each new connection to the next terminator.
 * Every page load is a new connection (the terminators answer with
 * `connection: close`, and the favicon is not fetched); every load after the
 * first must resume, with TLS 1.3
 * (Chromium uses each ticket once: the terminators hand out a fresh one on
 * every resumption) and with TLS 1.2 (terminators capped at TLS 1.2).
 *
 * Chromium trusts the test's certificate by its public key
 * (--ignore-certificate-errors-spki-list), so it caches sessions as for any
 * valid certificate, and reaches resume.test at 127.0.0.1 through
 * --host-resolver-rules.
 */
import { createHash, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { start, stopAll, tempDir } from "./procs.js";
import { startService, type Service } from "./service.js";
import { makeCertificate } from "./tls.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const TERMINATOR = fileURLToPath(new URL("../../examples/node-tls-terminator/terminator.mjs", import.meta.url));
const LOADS = 8;

let service: Service | undefined;
let dir: ReturnType<typeof tempDir> | undefined;
let browser: Browser | undefined;
const proxies: { server: Server; sockets: Set<Socket>; port: number }[] = [];
const proxyPort: Record<"1.3" | "1.2", number> = { "1.3": 0, "1.2": 0 };

async function terminator(name: string, cert: { cert: string; key: string }, maxVersion: string): Promise<number> {
  const p = start(`terminator ${name} ${maxVersion}`, process.execPath, [
    TERMINATOR, "--service", service!.url, "--cert", cert.cert, "--key", cert.key, "--port", "0", "--name", name, "--max-version", maxVersion, "--timeout", "2000",
  ], { env: { ...process.env, ESR_TOKEN: service!.tokens.terminator } });
  const m = await p.waitForLine(/"event":"listening".*"port":(\d+)/);
  expect(p.stdout()).toMatch(/"event":"listening".*"ticket_keys":"shared".*"renews_tickets":true/);
  return Number(m[1]);
}

/** One address for two terminators: each new connection goes to the next one. */
async function roundRobin(ports: number[]): Promise<number> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(ports[next++ % ports.length]!, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
      s.on("close", () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  proxies.push({ server, sockets, port });
  return port;
}

/** base64(SHA-256(SubjectPublicKeyInfo)): what --ignore-certificate-errors-spki-list takes. */
function spkiHash(certPath: string): string {
  const spki = new X509Certificate(readFileSync(certPath)).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM_PATH. This test does not skip.`);
  dir = tempDir("browser-terminators");
  service = await startService({ grants: { terminator: { scopes: ["sessions", "stek"] } } });
  const cert = await makeCertificate(dir.path);
  const [a13, b13, a12, b12] = await Promise.all([
    terminator("a", cert, "TLSv1.3"),
    terminator("b", cert, "TLSv1.3"),
    terminator("a", cert, "TLSv1.2"),
    terminator("b", cert, "TLSv1.2"),
  ]);
  proxyPort["1.3"] = await roundRobin([a13, b13]);
  proxyPort["1.2"] = await roundRobin([a12, b12]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // Playwright gives the browser a fresh --user-data-dir of its own.
    args: [
      "--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--host-resolver-rules=MAP resume.test 127.0.0.1",
      `--ignore-certificate-errors-spki-list=${spkiHash(cert.cert)}`,
    ],
    timeout: 30_000,
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const p of proxies) {
    for (const s of p.sockets) s.destroy();
    await new Promise<void>((r) => p.server.close(() => r()));
  }
  await stopAll();
  await service?.stop();
  dir?.remove();
});

describe("Chromium through one address in front of two Node terminators", () => {
  for (const version of ["1.3", "1.2"] as const) {
    it(`${LOADS} page loads on new connections: every load after the first resumes (TLS ${version})`, async () => {
      const context = await browser!.newContext();
      try {
        const page = await context.newPage();
        // One connection per load: the favicon request (a connection and a
        // ticket of its own, in parallel with the next load) is not a page load.
        await page.route("**/favicon.ico", (route) => route.abort());
        const loads: { node: string; protocol: string; reused: boolean }[] = [];
        for (let i = 0; i < LOADS; i++) {
          const response = await page.goto(`https://resume.test:${proxyPort[version]}/?load=${i}`);
          expect(response?.ok()).toBe(true);
          const m = /^(a|b) (TLSv1\.[23]) reused=(true|false)$/m.exec(await response!.text());
          expect(m, await response!.text()).not.toBeNull();
          loads.push({ node: m![1]!, protocol: m![2]!, reused: m![3] === "true" });
        }
        console.log(`Chromium, TLS ${version}: ${loads.map((l) => `${l.node}:${l.reused ? "resumed" : "full"}`).join(" ")}`);
        expect(loads.every((l) => l.protocol === `TLSv${version}`)).toBe(true);
        expect(loads[0]!.reused).toBe(false);
        expect(loads.slice(1).map((l) => l.reused)).toEqual(Array(LOADS - 1).fill(true));
        // Both terminators answered: resumption crossed nodes.
        expect(new Set(loads.map((l) => l.node))).toEqual(new Set(["a", "b"]));
      } finally {
        await context.close();
      }
    });
  }
});
