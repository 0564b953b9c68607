/**
 * The key routes' contract: GET /v1/keys, POST /v1/keys/rotate and
 * GET /v1/keys/export, their query, body and answers as schemas that
 * validate requests, document the API, type the handlers' answers and the
 * typed client's results; and how a key is described in them.
 */
import { ServiceError } from "../errors.js";
import { array, boolean, integer, object, oneOf, optional, typed, type Infer, type Schema } from "../http/schema.js";
import { isStekFormat, MAX_STEK_SLOTS, STEK_FORMAT_NAMES, type StekExport, type StekFormat } from "../keyring/export.js";
import type { JwkExport } from "../keyring/jwk.js";
import { keyState, type KeyTimes } from "../keyring/schedule.js";

/** Every export format: the terminators' key files, and jwk for JOSE consumers of JWE tickets. */
export type ExportFormat = StekFormat | "jwk";
const EXPORT_FORMAT_NAMES: readonly ExportFormat[] = [...STEK_FORMAT_NAMES, "jwk"];

/** GET /v1/keys/export's query: ?format=…[&slots=n]. Unknown parameters are errors, like unknown body fields. */
export function parseExportQuery(params: URLSearchParams): { format: ExportFormat; slots: number | undefined } {
  for (const name of params.keys()) {
    if (name !== "format" && name !== "slots") throw new ServiceError("invalid_request", `${name}: unknown query parameter`, { field: name });
  }
  const format = params.get("format");
  if (format === null) throw new ServiceError("invalid_request", `format: is required (${EXPORT_FORMAT_NAMES.join(", ")})`, { field: "format" });
  if (format !== "jwk" && !isStekFormat(format)) throw new ServiceError("invalid_request", `format: must be one of ${EXPORT_FORMAT_NAMES.join(", ")}`, { field: "format" });
  const raw = params.get("slots");
  if (raw === null) return { format, slots: undefined };
  if (format === "jwk") throw new ServiceError("invalid_request", "slots: jwk exports every live key; it takes no slots", { field: "slots" });
  const slots = /^[0-9]{1,2}$/.test(raw) ? Number(raw) : NaN;
  if (!(slots >= 1 && slots <= MAX_STEK_SLOTS)) throw new ServiceError("invalid_request", `slots: must be an integer from 1 to ${MAX_STEK_SLOTS}`, { field: "slots" });
  if (format === "node48" && slots !== 1) throw new ServiceError("invalid_request", "slots: node48 holds exactly one key", { field: "slots" });
  return { format, slots };
}

/** The export query as a schema: parseExportQuery validates, the document describes. */
export const ExportQuery: Schema<{ format: ExportFormat; slots: number | undefined }> = {
  parse: (query) => parseExportQuery(new URLSearchParams(query as Record<string, string>)),
  jsonSchema: () => ({
    type: "object",
    required: ["format"],
    properties: {
      format: { type: "string", enum: [...EXPORT_FORMAT_NAMES], description: "the terminator's key file format (docs/proxies.md), or jwk: the context's ticket subkeys as a JWK Set, for JWE tickets" },
      slots: { type: "integer", minimum: 1, maximum: MAX_STEK_SLOTS, description: "how many keys to export (default 4 for nginx and go, 3 for haproxy; node48: exactly 1; jwk: not taken)" },
    },
  }),
};

export const RotateBody = object({
  revoke: optional(boolean("also destroy every older key at once (suspected key compromise)")),
});

const unixSeconds = (description = "unix seconds") => integer(0, Number.MAX_SAFE_INTEGER, description);

export const KeyInfo = object({
  id: integer(0, 0xffffff, "24-bit key id, as in the ticket header"),
  state: oneOf(["pending", "active", "retiring", "destroyed"] as const),
  published_at: unixSeconds(),
  activates_at: unixSeconds(),
  deactivates_at: unixSeconds("unix seconds: when it stops encrypting"),
  expires_at: unixSeconds("unix seconds: when it is destroyed"),
});

export const KeyRingState = object({
  now: unixSeconds(),
  fetched_at: unixSeconds("when this isolate's copy was last known current"),
  keys: array(KeyInfo),
  revoked: array(
    object({ id: integer(0, 0xffffff), expires_at: unixSeconds("when its window would have ended") }),
    "keys a revoke destroyed whose tickets could still be alive: their store: true tickets may still resume from their copies",
  ),
  settings: object({
    rotation_period: integer(0, Number.MAX_SAFE_INTEGER),
    prepublish_lead: integer(0, Number.MAX_SAFE_INTEGER),
    max_ticket_lifetime: integer(0, Number.MAX_SAFE_INTEGER),
    cache_ttl: integer(0, Number.MAX_SAFE_INTEGER),
    peak_seal_rate: integer(0, Number.MAX_SAFE_INTEGER),
  }),
});

export const RotateResult = object({
  now: unixSeconds(),
  activates_at: unixSeconds("when the successor starts (or started) encrypting"),
  revoked: array(integer(0, 0xffffff)),
  keys: array(KeyInfo),
});

export const ExportAnswer = typed<StekExport | JwkExport>({ type: "object", description: "the keys, and ready-to-write files where the program reads files (docs/proxies.md)" });

export type KeyInfoAnswer = Infer<typeof KeyInfo>;
export type KeyRingStateAnswer = Infer<typeof KeyRingState>;
export type RotateAnswer = Infer<typeof RotateResult>;

export function describeKey(k: KeyTimes, now: number): KeyInfoAnswer {
  return {
    id: k.id,
    state: keyState(k, now),
    published_at: k.published_at,
    activates_at: k.activates_at,
    deactivates_at: k.deactivates_at,
    expires_at: k.expires_at,
  };
}
