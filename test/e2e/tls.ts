/**
 * TLS helpers for the e2e tests: a throwaway certificate and `openssl
 * s_client` as the client, whose output says whether a session was resumed.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./procs.js";

export const OPENSSL = process.env.OPENSSL ?? "openssl";

/** A self-signed P-256 certificate for `resume.test` in dir: { cert, key } paths. */
export async function makeCertificate(dir: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  const r = await run("openssl req", OPENSSL, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=resume.test", "-addext", "subjectAltName=DNS:resume.test",
  ]);
  if (r.code !== 0) throw new Error(`openssl req failed: ${r.stderr}`);
  return { cert, key };
}

export interface Handshake {
  /** "Reused" or "New" as s_client prints it. */
  reused: boolean;
  protocol: string;
  /** The TLS 1.2 session id (hex, uppercase as printed), if any. */
  sessionId: string | undefined;
  /** The HTTP answer, if the server sent one. */
  response: string;
  output: string;
}

export interface ConnectOptions {
  version: "1.2" | "1.3";
  /** Write the session here (-sess_out). */
  sessOut?: string;
  /** Resume this session (-sess_in). */
  sessIn?: string;
  /** No session ticket extension: session ids only (TLS 1.2). */
  noTicket?: boolean;
  serverName?: string;
  /** The request's path (default /). */
  path?: string;
  timeoutMs?: number;
}

/**
 * One connection with `openssl s_client`: sends an HTTP request and reads
 * until the server closes (-ign_eof), so that TLS 1.3 tickets, which arrive
 * after the handshake, are in the session it writes.
 */
export async function sClient(port: number, options: ConnectOptions): Promise<Handshake> {
  const args = ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", options.serverName ?? "resume.test", options.version === "1.2" ? "-tls1_2" : "-tls1_3", "-ign_eof"];
  if (options.noTicket) args.push("-no_ticket");
  if (options.sessOut) args.push("-sess_out", options.sessOut);
  if (options.sessIn) args.push("-sess_in", options.sessIn);
  const r = await run("s_client", OPENSSL, args, {
    input: `GET ${options.path ?? "/"} HTTP/1.1\r\nHost: resume.test\r\nConnection: close\r\n\r\n`,
    timeoutMs: options.timeoutMs ?? 10_000,
  });
  const output = r.stdout + r.stderr;
  const m = /^(New|Reused), (TLSv[0-9.]+)/m.exec(output);
  if (!m) throw new Error(`s_client on port ${port} did not complete a handshake (exit ${r.code}):\n${output}`);
  const id = /^\s*Session-ID: ([0-9A-F]*)$/m.exec(output)?.[1];
  const response = /HTTP\/1\.1 [\s\S]*/.exec(r.stdout)?.[0] ?? "";
  return { reused: m[1] === "Reused", protocol: m[2]!, sessionId: id ? id : undefined, response, output };
}

/**
 * The last session ticket in OpenSSL's text dump of a session (`openssl
 * sess_id -text`, or s_client's own output, whose last dump is the
 * connection's session: for a resumed TLS 1.2 connection, the renewed ticket
 * when the server sent one), or undefined when it holds none.
 */
export function ticketInDump(text: string): Buffer | undefined {
  const dumps = [...text.matchAll(/TLS session ticket:\s*\n((?:\s*[0-9a-f]{4} - .*\n?)+)/gi)];
  const dump = dumps.at(-1)?.[1];
  if (!dump) return undefined;
  const hex = dump
    .split("\n")
    .map((line) => /^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]{1,2})*[0-9a-f]{2})/i.exec(line)?.[1] ?? "")
    .join(" ")
    .replace(/[^0-9a-f]/gi, "");
  return Buffer.from(hex, "hex");
}

/** The ticket in a session file written by -sess_out. */
export async function sessionTicket(sessionFile: string): Promise<Buffer> {
  const r = await run("openssl sess_id", OPENSSL, ["sess_id", "-in", sessionFile, "-noout", "-text"]);
  const ticket = ticketInDump(r.stdout);
  if (!ticket) throw new Error(`no ticket in ${sessionFile}:\n${r.stdout}${r.stderr}`);
  return ticket;
}

/** The key name (first 16 bytes, hex) of the ticket in a session file written by -sess_out. */
export async function ticketKeyName(sessionFile: string): Promise<string> {
  return (await sessionTicket(sessionFile)).subarray(0, 16).toString("hex");
}

/**
 * Copies a session file with one bit of `bytes` (a field of the session: its
 * ticket, its id) flipped in the middle, past any key name, inside what the
 * server authenticates or looks up: the server cannot resume it.
 */
export function tamperSession(sessionFile: string, tamperedFile: string, bytes: Buffer): void {
  const pem = readFileSync(sessionFile, "utf8");
  const m = /(-----BEGIN SSL SESSION PARAMETERS-----)([\s\S]*?)(-----END SSL SESSION PARAMETERS-----)/.exec(pem);
  if (!m) throw new Error(`${sessionFile} is not a PEM session`);
  const der = Buffer.from(m[2]!.replace(/\s+/g, ""), "base64");
  const at = der.indexOf(bytes);
  if (bytes.length === 0 || at < 0 || der.indexOf(bytes, at + 1) >= 0) throw new Error(`cannot locate the field in ${sessionFile}`);
  der[at + (bytes.length >> 1)]! ^= 0x01;
  const body = der.toString("base64").replace(/.{1,64}/g, "$&\n");
  writeFileSync(tamperedFile, `${m[1]}\n${body}${m[3]}\n`);
}

/** tamperSession on the session's ticket. */
export async function tamperTicket(sessionFile: string, tamperedFile: string): Promise<void> {
  tamperSession(sessionFile, tamperedFile, await sessionTicket(sessionFile));
}
