/**
 * What a command is (its words, options, usage) and what it gets to run
 * with: the Io, --json, and a client built from the global options.
 */
import type { ResumptionClient } from "../client/index.js";
import type { OptionSpecs, Parsed } from "./args.js";
import type { ExitCode } from "./errors.js";
import type { Io } from "./io.js";

export interface Command {
  /** The words that name it: ["keys", "status"]. */
  path: readonly string[];
  summary: string;
  /** Arguments after the command words, for the usage line: "[--revoke] [--yes]". */
  usage: string;
  options: OptionSpecs;
  /** Positional arguments it takes at most (default 0). */
  maxPositionals?: number;
  /** Whether it talks to the service (then --url, --timeout and a token apply) and needs a token for it. */
  service: "none" | "token-optional" | "token";
  /** More text for `esr <command> --help`. */
  help?: string;
  run(ctx: Context, args: Parsed): Promise<ExitCode>;
}

export interface Context {
  io: Io;
  /** --json: one JSON document on stdout, for machines. */
  json: boolean;
  /** The client for the service: --url / ESR_URL, the token, --timeout. Throws a usage error when one is missing. */
  client(): ResumptionClient;
  /** Whether credentials were given (token-optional commands): a token, or extra headers such as an Access service token's. */
  hasToken(): boolean;
  /** Prints one JSON document on stdout, on one line. */
  printJson(value: unknown): void;
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: OptionSpecs = {
  url: { type: "string", value: "URL", description: "the service's origin (default: $ESR_URL)" },
  "token-file": { type: "string", value: "FILE", description: "read the bearer token from FILE (default: the token in $ESR_TOKEN)" },
  token: { type: "string", value: "TOKEN", description: "the token itself: visible in ps and shell history, prefer $ESR_TOKEN or --token-file" },
  "header-file": { type: "string", value: "FILE", description: "extra headers for every call, one \"Name: value\" per line, e.g. an Access service token's (default: $ESR_HEADER_FILE)" },
  timeout: { type: "string", value: "TIME", description: "how long each call may take: 10s (default), 500ms, 1m; a bare number is milliseconds" },
  json: { type: "boolean", description: "machine output: one JSON document on stdout (errors too)" },
  help: { type: "boolean", short: "h", description: "this help" },
};
