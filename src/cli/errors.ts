/**
 * Exit codes and the errors commands throw. Every failure exits 2, so that
 * `esr export … && nginx -s reload` reloads only when the files changed
 * (exit 0) and never after "unchanged" (1) or a failure (2).
 */
export const EXIT = {
  /** Done; `export`: the files changed and were written (reload now). */
  ok: 0,
  /** Nothing was done, and that is not a failure: `export` found the files current; a revoke declined at the prompt. */
  unchanged: 1,
  /** A failure: bad usage, no token, the service's error (its code is printed), no answer, files not written. */
  failure: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure to report: `code` is the service's stable code (src/http/errors.ts), the client's (src/client/errors.ts) or the CLI's own. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    readonly code: string,
    message: string,
    readonly details: { status?: number; field?: string; hint?: string; exitCode?: ExitCode } = {},
  ) {
    super(message);
  }

  get exitCode(): ExitCode {
    return this.details.exitCode ?? EXIT.failure;
  }
}

/** Bad arguments: the message is followed by the command's usage line. */
export class UsageError extends CliError {
  constructor(message: string, hint?: string) {
    super("usage", message, hint === undefined ? {} : { hint });
  }
}
