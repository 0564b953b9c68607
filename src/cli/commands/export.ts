/**
 * esr export: GET /v1/keys/export (scope stek or admin) written as the
 * proxy's ticket key files, for a cron job on each proxy:
 *
 *   * * * * *  esr export --format nginx80 --out /etc/nginx/esr && nginx -s reload
 *
 * Files are written only when their content changed (temp file + rename,
 * mode 0600), then `.revision` (the export's revision, as examples/stek-sync
 * keeps it, so either tool can own the directory). Exit 0: files changed,
 * reload; 1: unchanged; 2: failure (the files on disk are kept: they stay
 * valid until the next activation).
 *
 * --format jwk writes the context's ticket subkeys as one JWK Set file,
 * jwks.json, for an application that opens JWE tickets itself.
 */
import type { JwkExport, StekExport } from "../../client/index.js";
import { isStekFormat, MAX_STEK_SLOTS, STEK_FORMAT_NAMES, STEK_FORMATS, type StekFormat } from "../../keyring/export.js";
import { stringOption } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT, UsageError, type ExitCode } from "../errors.js";
import { when } from "../format.js";
import { ensureDir, FILE_MODE, isSafeFileName, modeOf, readIfExists, syncDir, writeAtomically } from "../files.js";
import { unwrap } from "../service-errors.js";
import { join, resolve } from "node:path";
import { chmodSync } from "node:fs";

export const REVISION_FILE = ".revision";

export interface WriteOutcome {
  changed: boolean;
  /** Files whose content was (re)written. */
  written: string[];
}

/** Writes the export's files into dir where their content differs, then .revision. */
export function writeExport(dir: string, exported: Pick<StekExport, "files" | "revision">): WriteOutcome {
  const files = exported.files ?? [];
  for (const f of files) {
    if (!isSafeFileName(f.name)) throw new CliError("invalid_response", `the export names a file ${JSON.stringify(f.name)}: not a plain file name, nothing was written`);
    if (f.encoding !== "base64" && f.encoding !== "utf8") throw new CliError("invalid_response", `the export's file ${f.name} has an unknown encoding ${JSON.stringify(f.encoding)}`);
  }
  ensureDir(dir);
  const written: string[] = [];
  for (const f of files) {
    const path = join(dir, f.name);
    const content = f.encoding === "base64" ? Buffer.from(f.content, "base64") : Buffer.from(f.content, "utf8");
    const current = readIfExists(path);
    if (current !== undefined && current.equals(content)) {
      // Same key: no reload needed, but the mode is put right.
      if (modeOf(path) !== FILE_MODE) chmodSync(path, FILE_MODE);
      continue;
    }
    writeAtomically(path, content);
    written.push(f.name);
  }
  // Last: a failure before this line leaves the old revision, so the next run compares again.
  const revisionPath = join(dir, REVISION_FILE);
  if (readIfExists(revisionPath)?.toString("utf8").trim() !== exported.revision) writeAtomically(revisionPath, `${exported.revision}\n`);
  syncDir(dir);
  return { changed: written.length > 0, written };
}

/** The JWK export as the one file it is written to: a JWK Set, key material included (mode 0600 like every key file). */
export const JWKS_FILE = "jwks.json";
function jwkFiles(exported: JwkExport): Pick<StekExport, "files" | "revision"> {
  return { revision: exported.revision, files: [{ name: JWKS_FILE, encoding: "utf8", content: `${JSON.stringify({ keys: exported.keys }, null, 2)}\n` }] };
}

function summary(exported: StekExport) {
  return {
    format: exported.format,
    context: exported.context,
    revision: exported.revision,
    files: (exported.files ?? []).map((f) => f.name),
    // Ids, roles and the names the program puts in clear in its tickets: no key material.
    keys: exported.keys.map((k) => ({ id: k.id, state: k.state, role: k.role, name: k.name, expires_at: k.expires_at })),
    dropped: exported.dropped,
    next_change_at: exported.next_change_at,
    refresh_after: exported.refresh_after,
  };
}

const FORMATS = [...STEK_FORMAT_NAMES, "jwk"];

/** The formats whose programs load their keys through an API call rather than files, and who polls for them. */
type PolledFormat = { [F in StekFormat]: (typeof STEK_FORMATS)[F]["files"] extends "none" ? F : never }[StekFormat];
const POLLED_BY: Record<PolledFormat, string> = {
  node48: "a Node terminator loads its key with setTicketKeys (examples/node-tls-terminator)",
  go: "a Go server loads its keys with SetSessionTicketKeys (examples/go-tls-server)",
};

type Ctx = Parameters<Command["run"]>[0];

/**
 * Writes an export's files into `out` and says what happened: a JSON summary
 * (--json) or lines for a person, never key material. The exit code says
 * whether anything changed (0) or not (1).
 */
function writeAndReport(
  ctx: Ctx,
  out: string,
  exported: Pick<StekExport, "files" | "revision" | "next_change_at" | "now">,
  report: { summary: object; keys: string; afterChange: string },
): ExitCode {
  const dir = resolve(out);
  let outcome: WriteOutcome;
  try {
    outcome = writeExport(dir, exported);
  } catch (e) {
    if (e instanceof CliError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new CliError("write_failed", `cannot write the key files in ${dir}: ${err.code ?? ""} ${err.message}`.trim());
  }
  if (ctx.json) {
    ctx.printJson({ changed: outcome.changed, dir, written: outcome.written, ...report.summary });
  } else {
    ctx.io.out(
      outcome.changed
        ? `changed: wrote ${outcome.written.join(", ")} in ${dir} (revision ${exported.revision})${report.afterChange}`
        : `unchanged: ${dir} is current (revision ${exported.revision})`,
    );
    ctx.io.out(`keys: ${report.keys}`);
    if (exported.next_change_at !== null) ctx.io.out(`next change: ${when(exported.next_change_at, exported.now)}`);
  }
  return outcome.changed ? EXIT.ok : EXIT.unchanged;
}

async function exportJwk(ctx: Ctx, out: string | undefined): Promise<ExitCode> {
  const exported = unwrap(await ctx.client().exportJwk());
  if (out === undefined) {
    ctx.printJson(exported);
    return EXIT.ok;
  }
  // Key ids and states only: never the key material.
  const keys = exported.keys.map((k) => ({ kid: k.kid, state: k.state, expires_at: k.expires_at }));
  return writeAndReport(ctx, out, { ...exported, ...jwkFiles(exported) }, {
    summary: { format: "jwk", context: exported.context, revision: exported.revision, keys, next_change_at: exported.next_change_at, refresh_after: exported.refresh_after },
    keys: keys.map((k) => `${k.kid} ${k.state}`).join(", "),
    afterChange: "",
  });
}

export const exportCommand: Command = {
  path: ["export"],
  summary: "write the ticket key files for nginx, Envoy or HAProxy (scope stek or admin); exit 0 changed, 1 unchanged, 2 failure",
  usage: "--format FORMAT --out DIR [--slots N]",
  service: "token",
  options: {
    format: { type: "string", value: "FORMAT", description: `${FORMATS.join(", ")} (docs/proxies.md; jwk writes jwks.json for JWE tickets)` },
    out: { type: "string", value: "DIR", description: "write the files here (created 0700 if missing); without it, --json prints the export itself" },
    slots: { type: "string", value: "N", description: `how many keys (1 to ${MAX_STEK_SLOTS}; default: the format's, nginx and go 4, haproxy 3)` },
  },
  help:
    "Exit status: 0 the files changed and were written (reload the proxy), 1 nothing changed,\n" +
    "2 failure (the service's error code is printed; the files on disk are kept). For cron:\n" +
    "  esr export --format nginx80 --out /etc/nginx/esr && nginx -s reload\n" +
    "With --json and no --out it prints the export, key material included (e.g. for Envoy's SDS file).",
  async run(ctx, args) {
    const format = stringOption(args, "format");
    if (format === undefined) throw new UsageError(`--format is required: ${FORMATS.join(", ")}`);
    if (format !== "jwk" && !isStekFormat(format)) throw new UsageError(`--format must be one of ${FORMATS.join(", ")} (got ${JSON.stringify(format)})`);
    const rawSlots = stringOption(args, "slots");
    let slots: number | undefined;
    if (rawSlots !== undefined) {
      slots = /^[0-9]{1,2}$/.test(rawSlots) ? Number(rawSlots) : NaN;
      if (!(slots >= 1 && slots <= MAX_STEK_SLOTS)) throw new UsageError(`--slots must be an integer from 1 to ${MAX_STEK_SLOTS}`);
    }
    const out = stringOption(args, "out");
    if (out === undefined && !ctx.json) throw new UsageError("--out DIR is required (or --json to print the export itself)");
    if (format === "jwk") {
      if (slots !== undefined) throw new UsageError("--slots does not apply to jwk: it exports every live key");
      return exportJwk(ctx, out);
    }
    if (out !== undefined && STEK_FORMATS[format].files === "none") {
      throw new UsageError(`${format} has no files: ${POLLED_BY[format as PolledFormat]}; use --json without --out`);
    }

    const exported = unwrap(await ctx.client().exportKeys(format, slots === undefined ? {} : { slots }));
    if (out === undefined) {
      ctx.printJson(exported);
      return EXIT.ok;
    }
    if (!exported.files) throw new CliError("invalid_response", `the export for ${format} has no files`);
    return writeAndReport(ctx, out, exported, {
      summary: summary(exported),
      keys: exported.keys.map((k) => `${k.id} ${k.state}${k.role === "encrypt" ? " (encrypts)" : ""}`).join(", "),
      afterChange: "; reload the proxy",
    });
  },
};
