/** A client Result as a value, or the CliError that carries the service's code, status and message. */
import type { Result } from "../client/index.js";
import { CliError } from "./errors.js";

const HINTS: Record<string, string> = {
  unauthorized: "the token is not in the service's API_TOKENS (or was removed): check ESR_TOKEN / --token-file",
  forbidden: "the token lacks the scope this needs (esr <command> --help names it)",
  timeout: "no answer in time: raise --timeout, or check --url",
  network_error: "the service could not be reached: check --url / ESR_URL",
  config_invalid: "the service's settings are invalid (docs/deploy.md)",
};

export function unwrap<T>(r: Result<T>): T {
  if (r.ok) return r.value;
  const e = r.error;
  const hint = HINTS[e.code];
  throw new CliError(e.code, e.message, {
    ...(e.status !== undefined && { status: e.status }),
    ...(e.field !== undefined && { field: e.field }),
    ...(hint !== undefined && { hint }),
  });
}
