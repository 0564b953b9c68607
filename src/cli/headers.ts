/**
 * Extra request headers for every call, from the environment or a file, for
 * what stands in front of the service: above all a Cloudflare Access
 * application that requires a service token (CF-Access-Client-Id and
 * CF-Access-Client-Secret; Access checks them and hands the service its
 * own signed assertion).
 *
 * - ESR_HEADER_<NAME>=value: one header; the name is <NAME> with "_" as
 *   "-" (ESR_HEADER_CF_ACCESS_CLIENT_SECRET is CF-Access-Client-Secret).
 * - --header-file FILE (or ESR_HEADER_FILE): "Name: value" lines; blank
 *   lines and lines starting with # are skipped. Mode 0600, like a token
 *   file: it holds a secret.
 *
 * Never in argv: these are credentials, and argv shows in ps and shell
 * history. Values are never printed: errors name the variable or the file's
 * line, and every value is redacted from any message the CLI prints.
 * Authorization is the token's (ESR_TOKEN, --token-file), and the headers
 * the client sets itself cannot be overridden.
 */
import { readFileSync, statSync } from "node:fs";
import { stringOption, type Parsed } from "./args.js";
import { CliError } from "./errors.js";
import type { Io } from "./io.js";

export const HEADER_ENV_PREFIX = "ESR_HEADER_";
export const HEADER_FILE_ENV = "ESR_HEADER_FILE";

/** RFC 9110 token characters: what a header name is made of. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$/;
/** Visible ASCII with inner spaces and tabs: what a field value may hold without encoding (no CR, LF or NUL). */
const HEADER_VALUE = /^[\x21-\x7e](?:[\x20-\x7e\t]{0,8190}[\x21-\x7e])?$/;
/** Headers that are not the caller's to set: the token's, the client's own, and the transport's. */
const RESERVED = new Set(["authorization", "accept", "content-type", "content-length", "host", "connection", "transfer-encoding", "te", "upgrade", "expect", "keep-alive"]);

export interface ExtraHeaders {
  /** Lowercase name -> value. */
  headers: Record<string, string>;
}

/** Every value the environment could hand the CLI as a header, for redaction before anything is parsed. */
export function headerValuesInEnv(env: Io["env"]): string[] {
  return Object.entries(env)
    .filter(([k, v]) => k.startsWith(HEADER_ENV_PREFIX) && k !== HEADER_FILE_ENV && typeof v === "string")
    .map(([, v]) => v!.trim());
}

function checked(name: string, value: string, where: string): [string, string] {
  const lower = name.toLowerCase();
  if (!HEADER_NAME.test(name)) throw new CliError("header_invalid", `${where}: ${JSON.stringify(name)} is not a header name`);
  if (RESERVED.has(lower)) {
    const why = lower === "authorization" ? "the token goes in ESR_TOKEN or --token-file" : "the client sets it itself";
    throw new CliError("header_invalid", `${where}: ${lower} cannot be set as an extra header (${why})`);
  }
  // The value itself is a secret: never quoted.
  if (!HEADER_VALUE.test(value)) throw new CliError("header_invalid", `${where}: the value of ${lower} is empty or holds characters a header cannot carry`);
  return [lower, value];
}

function fromEnv(env: Io["env"]): [string, string, string][] {
  const out: [string, string, string][] = [];
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith(HEADER_ENV_PREFIX) || key === HEADER_FILE_ENV || raw === undefined) continue;
    const name = key.slice(HEADER_ENV_PREFIX.length).replace(/_/g, "-");
    out.push([name, raw.trim(), key]);
  }
  return out;
}

function fromFile(file: string, io: Io): [string, string, string][] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new CliError("header_file_unreadable", `cannot read the header file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    if (process.platform !== "win32" && (statSync(file).mode & 0o077) !== 0) io.err(`esr: warning: ${file} is readable by other users (chmod 600 it)`);
  } catch {
    // read above; a race here is not worth failing for
  }
  const out: [string, string, string][] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const where = `${file}:${i + 1}`;
    if (line.trim() === "" || line.trimStart().startsWith("#")) return;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new CliError("header_invalid", `${where}: a line is "Name: value"`);
    out.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim(), where]);
  });
  return out;
}

/** The extra headers of the environment and the header file (--header-file, else ESR_HEADER_FILE); a name given twice is an error. */
export function resolveExtraHeaders(parsed: Parsed, io: Io): ExtraHeaders {
  const file = stringOption(parsed, "header-file") ?? (io.env[HEADER_FILE_ENV]?.trim() || undefined);
  const entries = [...fromEnv(io.env), ...(file === undefined ? [] : fromFile(file, io))];
  const headers: Record<string, string> = {};
  const seen = new Map<string, string>();
  for (const [rawName, rawValue, where] of entries) {
    const [name, value] = checked(rawName, rawValue, where);
    const before = seen.get(name);
    if (before !== undefined) throw new CliError("header_invalid", `${where}: ${name} is also given by ${before}`);
    seen.set(name, where);
    headers[name] = value;
  }
  return { headers };
}
