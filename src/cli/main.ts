/**
 * esr: the operators' command line for the service, on the typed client
 * (src/client). `main` parses the arguments, runs one command and returns its
 * exit code (errors.ts); bin/esr.mjs (in this repository) and bin.ts (the
 * standalone bundle, `npm run build:cli`) call it.
 */
import type { ResumptionClient } from "../client/index.js";
import { describeOptions, parseArgs, stringOption, type OptionSpecs, type Parsed } from "./args.js";
import { GLOBAL_OPTIONS, type Command, type Context } from "./command.js";
import { exportCommand } from "./commands/export.js";
import { health } from "./commands/health.js";
import { keysRotate, keysStatus } from "./commands/keys.js";
import { tokenCreate, tokenHashCommand } from "./commands/token.js";
import { connection, makeClient, resolveToken, type Connection } from "./connect.js";
import { CliError, EXIT, UsageError, type ExitCode } from "./errors.js";
import { headerValuesInEnv } from "./headers.js";
import { redact } from "./format.js";
import { nodeIo, type Io } from "./io.js";

export const COMMANDS: readonly Command[] = [tokenCreate, tokenHashCommand, keysStatus, keysRotate, exportCommand, health];

/** Every option of every command, for the first pass that finds the command words. */
function allOptions(): OptionSpecs {
  const all: OptionSpecs = { ...GLOBAL_OPTIONS };
  for (const c of COMMANDS) {
    for (const [name, spec] of Object.entries(c.options)) {
      const seen = all[name];
      if (seen && seen.type !== spec.type) throw new Error(`option --${name} is a ${seen.type} in one command and a ${spec.type} in another`);
      all[name] = spec;
    }
  }
  return all;
}

function findCommand(words: readonly string[]): Command | undefined {
  return COMMANDS.find((c) => c.path.every((w, i) => words[i] === w));
}

const name = (c: Command) => c.path.join(" ");

function usageLine(c: Command): string {
  return `usage: esr ${name(c)}${c.usage ? ` ${c.usage}` : ""}${c.service === "none" ? "" : " [--url URL] [--token-file FILE] [--header-file FILE] [--timeout TIME]"} [--json]`;
}

export function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => name(c).length));
  return [
    "esr: operate the edge session-resumption service",
    "",
    "usage: esr <command> [options]",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${name(c).padEnd(width)}  ${c.summary}`),
    "",
    "global options:",
    ...describeOptions(GLOBAL_OPTIONS),
    "",
    "environment: ESR_URL (the service), ESR_TOKEN (the bearer token; or --token-file)",
    "",
    "extra headers (e.g. for a Cloudflare Access application that requires a service token):",
    "  ESR_HEADER_<NAME>=value  sends <NAME> with _ as - on every call:",
    "                           ESR_HEADER_CF_ACCESS_CLIENT_ID=<client id>",
    "                           ESR_HEADER_CF_ACCESS_CLIENT_SECRET=<client secret>",
    "  --header-file FILE       \"Name: value\" lines (# comments), mode 0600; or ESR_HEADER_FILE=FILE",
    "  With a service token's headers no ESR_TOKEN is needed: Access signs the caller in, and",
    "  JWT_ISSUERS' grants decide what it may do. Values are never printed; Authorization is",
    "  the token's and cannot be set this way.",
    "exit status: 0 done (export: the files changed), 1 nothing to do (export: unchanged),",
    "             2 failure (the service's error code is printed)",
    "",
    "esr <command> --help: that command's options",
  ].join("\n");
}

export function commandHelp(c: Command): string {
  const options = { ...c.options, ...(c.service === "none" ? { json: GLOBAL_OPTIONS.json!, help: GLOBAL_OPTIONS.help! } : GLOBAL_OPTIONS) };
  return [
    usageLine(c),
    "",
    c.summary,
    "",
    "options:",
    ...describeOptions(options),
    ...(c.help ? ["", c.help] : []),
  ].join("\n");
}

function groupHelp(word: string): string | undefined {
  const group = COMMANDS.filter((c) => c.path[0] === word);
  if (group.length === 0) return undefined;
  return [`usage: esr ${word} <${group.map((c) => c.path[1] ?? "").join("|")}> [options]`, "", ...group.map((c) => `  esr ${name(c)} ${c.usage}`.trimEnd() + `\n      ${c.summary}`)].join("\n");
}

function makeContext(io: Io, parsed: Parsed, command: Command, secrets: string[]): Context {
  const json = parsed.values.json === true;
  let conn: Connection | undefined;
  let client: ResumptionClient | undefined;
  const connect = (): Connection => {
    if (!conn) {
      conn = connection(parsed, io, command.service === "token");
      if (conn.token) secrets.push(conn.token);
      secrets.push(...Object.values(conn.headers));
    }
    return conn;
  };
  return {
    io,
    json,
    client: () => (client ??= makeClient(connect(), io)),
    hasToken: () => connect().token !== undefined || Object.keys(connect().headers).length > 0,
    printJson: (value) => io.out(JSON.stringify(value)),
  };
}

function report(io: Io, e: unknown, json: boolean, command: Command | undefined, secrets: readonly string[]): ExitCode {
  const error =
    e instanceof CliError
      ? e
      : new CliError(
          (e as NodeJS.ErrnoException)?.code && typeof (e as NodeJS.ErrnoException).code === "string" ? "io_error" : "internal_error",
          e instanceof Error ? e.message : String(e),
        );
  const clean = (text: string) => redact(text, secrets);
  if (json) {
    const { status, field, hint } = error.details;
    io.out(JSON.stringify({ error: { code: error.code, message: clean(error.message), ...(status !== undefined && { status }), ...(field !== undefined && { field }), ...(hint !== undefined && { hint }) } }));
    return error.exitCode;
  }
  const who = command ? `esr ${name(command)}` : "esr";
  if (error instanceof UsageError) {
    io.err(`${who}: ${clean(error.message)}`);
    io.err(command ? `${usageLine(command)}\n(esr ${name(command)} --help for more)` : "(esr --help for the commands)");
    return error.exitCode;
  }
  const status = error.details.status !== undefined ? ` (HTTP ${error.details.status})` : "";
  io.err(`${who}: ${error.code}${status}: ${clean(error.message)}`);
  if (error.details.hint) io.err(`  hint: ${error.details.hint}`);
  if (io.env.ESR_DEBUG && e instanceof Error && !(e instanceof CliError) && e.stack) io.err(clean(e.stack));
  return error.exitCode;
}

export async function main(argv: readonly string[], io: Io = nodeIo()): Promise<ExitCode> {
  let json = argv.includes("--json");
  let command: Command | undefined;
  // Whatever could be a token, for redaction before anything is resolved.
  const secrets: string[] = [io.env.ESR_TOKEN ?? "", ...headerValuesInEnv(io.env)];
  try {
    const first = parseArgs(argv, allOptions());
    json = first.values.json === true;
    const inline = stringOption(first, "token");
    if (inline) secrets.push(inline);
    const words = first.positionals;
    const wantsHelp = first.values.help === true || words[0] === "help";
    if (words[0] === "help") words.shift();
    command = findCommand(words);
    if (!command) {
      const group = words[0] === undefined ? undefined : groupHelp(words[0]);
      if (wantsHelp || words.length === 0) {
        (wantsHelp ? io.out : io.err)(group ?? overview());
        return wantsHelp ? EXIT.ok : EXIT.failure;
      }
      if (group && words.length === 1) {
        io.err(group);
        return EXIT.failure;
      }
      throw new UsageError(`unknown command: ${words.join(" ")}`);
    }
    if (wantsHelp) {
      io.out(commandHelp(command));
      return EXIT.ok;
    }
    const parsed = parseArgs(argv, { ...GLOBAL_OPTIONS, ...command.options });
    const positionals = parsed.positionals.slice(command.path.length);
    if (positionals.length > (command.maxPositionals ?? 0)) throw new UsageError(`unexpected argument: ${positionals[command.maxPositionals ?? 0]}`);
    if (command.service === "none" && stringOption(parsed, "token") !== undefined) resolveToken(parsed, io); // the --token warning, at least
    const ctx = makeContext(io, parsed, command, secrets);
    return await command.run(ctx, { values: parsed.values, positionals });
  } catch (e) {
    return report(io, e, json, command, secrets);
  }
}

/** Runs with process.argv and sets the exit code (the process ends once its output is flushed). */
export async function run(argv: readonly string[] = process.argv.slice(2), io: Io = nodeIo()): Promise<ExitCode> {
  const code = await main(argv, io);
  process.exitCode = code;
  return code;
}
