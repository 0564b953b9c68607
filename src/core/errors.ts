import type { Bytes } from "./encoding.js";

/**
 * Typed errors with stable string codes, in the manner of jose's ERR_* codes:
 * callers switch on `code`, never on the message. Messages are for humans and
 * never carry key material, ticket bytes or session secrets.
 */

/** Codes the core itself raises. */
export const CORE_ERROR_CODES = [
  "ticket_malformed",
  "ticket_unsupported_version",
  "key_unknown",
  "ticket_invalid",
  "ticket_expired",
  "context_mismatch",
  "session_invalid",
  "key_invalid",
] as const;

export type CoreErrorCode = (typeof CORE_ERROR_CODES)[number];

/** One wrong input field and what is wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

export class ResumptionError extends Error {
  override readonly name = "ResumptionError";
  /** Which input field was wrong, when one can be named (e.g. "session.master_secret"). */
  readonly field: string | undefined;
  /** Every wrong field, one message each, when the input was validated as a whole. */
  readonly issues: readonly FieldIssue[];

  constructor(code: CoreErrorCode, message: string, field?: string, issues: readonly FieldIssue[] = []) {
    super(message);
    this.code = code;
    this.field = field ?? issues[0]?.field;
    this.issues = issues;
  }

  readonly code: CoreErrorCode;

  /** One error for a list of field issues: the message names each field. */
  static fromIssues(code: CoreErrorCode, issues: readonly FieldIssue[]): ResumptionError {
    const message = issues.map((i) => `${i.field}: ${i.message}`).join("; ");
    return new ResumptionError(code, message, undefined, issues);
  }
}

/**
 * A ticket whose key is not (or no longer) in the ring. Carries the ticket's
 * clear-text lookup id, when it has one, so the service can fall back to the
 * session store.
 */
export class KeyUnknownError extends ResumptionError {
  constructor(
    readonly keyId: number,
    readonly lookupId: Bytes | undefined,
  ) {
    super("key_unknown", `ticket key ${keyId} is not in the key ring`);
  }
}

export function isResumptionError(e: unknown): e is ResumptionError {
  return e instanceof ResumptionError;
}
