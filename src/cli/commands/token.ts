/**
 * esr token create: a new API token and the API_TOKENS entry that grants it
 * (the service stores only the token's SHA-256; docs/deploy.md).
 * esr token hash: the SHA-256 of an existing token, read from stdin so that
 * it stays out of shell history.
 * Local only: neither talks to the service.
 */
import { createHash, randomBytes } from "node:crypto";
import { SCOPES, type Scope } from "../../auth/caller.js";
import { stringOption } from "../args.js";
import type { Command } from "../command.js";
import { EXIT, UsageError, CliError } from "../errors.js";

/** As src/config.ts checks CONTEXTS' names. */
const CONTEXT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export function newToken(): string {
  return `esr_${randomBytes(32).toString("base64url")}`;
}

/** What API_TOKENS is keyed by: the token's SHA-256, lowercase hex. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

export function parseScopes(raw: string): Scope[] {
  const scopes = [...new Set(raw.split(",").map((s) => s.trim()).filter(Boolean))];
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new UsageError(`--scopes must list some of ${SCOPES.join(", ")}${unknown.length ? ` (unknown: ${unknown.join(", ")})` : ""}`);
  }
  return scopes as Scope[];
}

export const tokenCreate: Command = {
  path: ["token", "create"],
  summary: "make a new API token and its API_TOKENS entry (printed once, stored nowhere)",
  usage: "[--context NAME] [--scopes s1,s2,...]",
  service: "none",
  options: {
    context: { type: "string", value: "NAME", description: "the session id context the token acts in (default: default)" },
    scopes: { type: "string", value: "LIST", description: `comma-separated, of ${SCOPES.join(", ")} (default: tickets)` },
  },
  help: "Give the token to its caller once; add the entry to your API_TOKENS JSON, then:\n  npx wrangler secret put API_TOKENS < api-tokens.json",
  async run(ctx, args) {
    const context = stringOption(args, "context") ?? "default";
    if (!CONTEXT_NAME.test(context)) throw new UsageError(`--context must be 1 to 64 of A-Z a-z 0-9 . _ - (got ${JSON.stringify(context)})`);
    const scopes = parseScopes(stringOption(args, "scopes") ?? "tickets");
    const token = newToken();
    const hash = tokenHash(token);
    const grant = { context, scopes };
    if (ctx.json) {
      ctx.printJson({ token, hash, entry: { [hash]: grant } });
    } else {
      ctx.io.out(`token (give it to the caller; it is not stored anywhere):\n  ${token}\n`);
      ctx.io.out(`API_TOKENS entry (add it to the JSON object, then: npx wrangler secret put API_TOKENS):\n  ${JSON.stringify(hash)}: ${JSON.stringify(grant)}`);
    }
    return EXIT.ok;
  },
};

export const tokenHashCommand: Command = {
  path: ["token", "hash"],
  summary: "print a token's SHA-256, its key in API_TOKENS (the token from stdin, or asked for)",
  usage: "[TOKEN]",
  service: "none",
  maxPositionals: 1,
  options: {},
  help: "Without TOKEN it is read from stdin (a pipe or a file), or asked for without echo at a terminal:\n  esr token hash < token.txt\nA TOKEN argument works but stays in your shell history.",
  async run(ctx, args) {
    let token = args.positionals[0];
    if (token !== undefined) {
      ctx.io.err("esr: note: a token on the command line stays in your shell history; pipe it in instead (esr token hash < file)");
    } else if (ctx.io.interactive) {
      token = await ctx.io.ask("token (not shown): ", { echo: false });
    } else {
      token = await ctx.io.readStdin();
    }
    token = token.trim();
    if (token === "") throw new CliError("token_invalid", "no token: pass it on stdin");
    if (/\s/.test(token)) throw new CliError("token_invalid", "the input holds more than one token (whitespace inside): hash one at a time");
    const hash = tokenHash(token);
    if (ctx.json) ctx.printJson({ hash });
    else ctx.io.out(hash);
    return EXIT.ok;
  },
};
