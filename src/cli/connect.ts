/**
 * The global options as a client: the service URL (--url or ESR_URL), the
 * bearer token (ESR_TOKEN, --token-file, or --token with a warning), extra
 * headers (ESR_HEADER_*, --header-file: headers.ts) and the deadline
 * (--timeout, default 10 s: the client's own 100 ms default is for the TLS
 * handshake path, not for an operator or a cron job).
 */
import { readFileSync, statSync } from "node:fs";
import { ResumptionClient } from "../client/index.js";
import { stringOption, type Parsed } from "./args.js";
import { CliError, UsageError } from "./errors.js";
import { resolveExtraHeaders } from "./headers.js";
import type { Io } from "./io.js";

export const DEFAULT_TIMEOUT_MS = 10_000;
/** Extra attempts for idempotent calls (GETs) after a network error or a 502/503/504, within the deadline. */
export const CLI_RETRIES = 2;

export interface Connection {
  url: string;
  token: string | undefined;
  /** Extra headers on every call (lowercase names), e.g. an Access service token's. */
  headers: Record<string, string>;
  timeout: number;
}

/** "10s", "500ms", "1m", or a bare number of milliseconds. */
export function parseTimeout(raw: string): number {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m)?\s*$/.exec(raw);
  const ms = m ? Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 1) : NaN;
  if (!(ms >= 1 && ms <= 600_000)) throw new UsageError(`--timeout must be from 1ms to 10m, e.g. 10s or 500ms (got ${JSON.stringify(raw)})`);
  return Math.round(ms);
}

export function serviceUrl(parsed: Parsed, io: Io): string {
  const raw = stringOption(parsed, "url") ?? io.env.ESR_URL;
  if (raw === undefined || raw.trim() === "") throw new UsageError("no service URL: give --url or set ESR_URL (e.g. https://resumption.example.com)");
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new UsageError(`--url/ESR_URL is not a URL: ${JSON.stringify(raw)}`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") throw new UsageError(`--url/ESR_URL must be http: or https: (got ${url.protocol})`);
  if (url.username || url.password) throw new UsageError("--url/ESR_URL must not hold credentials: the token goes in ESR_TOKEN or --token-file");
  if (url.search || url.hash) throw new UsageError("--url/ESR_URL is the service's origin (and path prefix, if any), without ? or #");
  if (url.protocol === "http:" && !isLoopback(url.hostname)) io.err(`esr: warning: ${url.host} over plain http: the token and the keys cross the network in clear`);
  return url.href.replace(/\/+$/, "");
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\./.test(host);
}

/** The token, or undefined when none was given. Never printed: errors name where it came from, not what it is. */
export function resolveToken(parsed: Parsed, io: Io): string | undefined {
  const file = stringOption(parsed, "token-file");
  const inline = stringOption(parsed, "token");
  if (file !== undefined && inline !== undefined) throw new UsageError("give the token one way: --token-file or --token, not both");
  let token: string | undefined;
  let source: string;
  if (file !== undefined) {
    source = `--token-file ${file}`;
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (e) {
      throw new CliError("token_file_unreadable", `cannot read the token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      if (process.platform !== "win32" && (statSync(file).mode & 0o077) !== 0) io.err(`esr: warning: ${file} is readable by other users (chmod 600 it)`);
    } catch {
      // read above; a race here is not worth failing for
    }
    token = text.trim();
    if (token.includes("\n")) throw new CliError("token_invalid", `${source}: the file must hold one token on one line`);
  } else if (inline !== undefined) {
    source = "--token";
    io.err("esr: warning: a token given with --token is visible to other users in ps and stays in your shell history; use ESR_TOKEN or --token-file");
    token = inline.trim();
  } else {
    source = "ESR_TOKEN";
    token = io.env.ESR_TOKEN?.trim();
    if (token === "") token = undefined;
  }
  if (token === undefined) return undefined;
  if (token === "") throw new CliError("token_invalid", `${source} is empty`);
  // What an HTTP header may carry; checked here so that fetch's own error (which may quote the value) never happens.
  if (!/^[\x21-\x7e]{1,4096}$/.test(token)) throw new CliError("token_invalid", `${source}: a token is printable ASCII without spaces`);
  return token;
}

export function connection(parsed: Parsed, io: Io, tokenRequired: boolean): Connection {
  const url = serviceUrl(parsed, io);
  const token = resolveToken(parsed, io);
  const { headers } = resolveExtraHeaders(parsed, io);
  // Extra headers may be the credential (an Access service token: Access hands the service its assertion); else a token is needed.
  if (tokenRequired && token === undefined && Object.keys(headers).length === 0) {
    throw new UsageError(
      "no token: set ESR_TOKEN or give --token-file FILE (behind a Cloudflare Access application, its service token instead: ESR_HEADER_CF_ACCESS_CLIENT_ID and ESR_HEADER_CF_ACCESS_CLIENT_SECRET, see esr --help)",
    );
  }
  const raw = stringOption(parsed, "timeout");
  return { url, token, headers, timeout: raw === undefined ? DEFAULT_TIMEOUT_MS : parseTimeout(raw) };
}

export function makeClient(c: Connection, io: Io): ResumptionClient {
  return new ResumptionClient({
    baseUrl: c.url,
    token: c.token ?? "",
    timeout: c.timeout,
    retries: CLI_RETRIES,
    headers: { "user-agent": "esr-cli", ...c.headers },
    ...(io.fetch && { fetch: io.fetch }),
  });
}
