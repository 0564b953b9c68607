/**
 * Tickets as compact JWE (RFC 7516), for the JOSE world: an application that
 * holds its context's ticket keys as a JWK Set (GET /v1/keys/export?format=jwk)
 * opens them, or makes them, with any JOSE library. The binary ticket
 * (src/core/ticket.ts) stays the format for TLS: smaller and faster
 * (docs/ticket-format.md, "Binary or JWE").
 *
 * Same ring, same per-context subkeys as binary tickets; only `dir` with
 * `A256GCM` is accepted, and everything else about the header is judged
 * before any crypto: no other alg or enc, no zip, no crit, no header member
 * this format does not define.
 *
 * Protected header (the AAD, so every member is authenticated):
 *   alg "dir" | enc "A256GCM" | kid: the ring key id, decimal
 *   | ctx: the context | iat, exp: unix seconds
 *   | sid: the session id, lowercase hex; only when the session is also
 *     stored (store: true), as the lookup id of the store fallback
 * Payload: JSON {"session_id": hex, "single_use": bool, "region"?: code 1 to 255, "session": the API's session JSON}.
 *
 * jose does the JWE work; this module decides what is acceptable.
 */
import { CompactEncrypt, compactDecrypt } from "jose";
import {
  decodeBase64url,
  decodeHex,
  encodeHex,
  KeyUnknownError,
  MAX_KEY_ID,
  MAX_LOOKUP_ID_BYTES,
  MAX_TICKET_BYTES,
  parseSession,
  ResumptionError,
  sessionToJson,
  utf8,
  type Bytes,
  type OpenedTicket,
  type OpenOptions,
  type SealInput,
} from "../core/index.js";
import { checkSealInput, MAX_ISSUE_SKEW, NONCE_BYTES, TAG_BYTES } from "../core/internal.js";
import { MAX_TICKET_LIFETIME } from "../config.js";
import { MAX_BODY_BYTES } from "../http/body.js";
import { ServiceError } from "../errors.js";

/**
 * The longest ticket text the service issues and opens, in either format:
 * what fits, with the rest of an open request (server_name and
 * obfuscated_ticket_age at their longest, JSON around them: under 512
 * bytes), in a 64 KiB body. Shorter than base64url of TLS's 65,535-byte
 * limit (87,380): a ticket that could be sealed but never opened over HTTP
 * is refused when it is sealed. A binary ticket of this length is 48,768 bytes.
 */
export const MAX_TICKET_CHARS = Math.min(Math.ceil((MAX_TICKET_BYTES * 4) / 3), MAX_BODY_BYTES - 512);
/** A protected header of this format is under 200 characters; a longer one is refused unread. */
const MAX_HEADER_CHARS = 512;
const HEADER_MEMBERS = new Set(["alg", "enc", "kid", "ctx", "iat", "exp", "sid"]);
const SEGMENT = /^[A-Za-z0-9_-]*$/;
const KEY_ID = /^(0|[1-9][0-9]{0,7})$/;
const PAYLOAD_FIELDS = new Set(["session_id", "single_use", "region", "session"]);

/** Compact JWE has five dot-separated segments; base64url never holds a dot. */
export function isJweTicket(text: string): boolean {
  return text.includes(".");
}

/** What the clear protected header says, judged before any crypto. */
export interface JweTicketHeader {
  keyId: number;
  context: string;
  issuedAt: number;
  expiresAt: number;
  /** The session id in clear (sid), for the store fallback when the key is gone. */
  lookupId: Bytes | undefined;
  /** The 12-byte IV: with the key id, the ticket's identity for single use. */
  nonce: Bytes;
}

const malformed = (message: string): never => {
  throw new ResumptionError("ticket_malformed", message);
};
const unsupported = (message: string): never => {
  throw new ServiceError("ticket_unsupported_algorithm", message);
};

function isUnixSeconds(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Parses and judges a compact JWE ticket's clear parts; throws ticket_malformed or ticket_unsupported_algorithm. */
export function parseJweHeader(text: string): JweTicketHeader {
  if (text.length > MAX_TICKET_CHARS) malformed(`ticket longer than ${MAX_TICKET_CHARS} characters`);
  const parts = text.split(".");
  if (parts.length !== 5) malformed("a JWE ticket is five base64url segments separated by dots (compact serialization)");
  const [protectedB64, encryptedKey, ivB64, ciphertext, tagB64] = parts as [string, string, string, string, string];
  if (!parts.every((p) => SEGMENT.test(p))) malformed("a JWE segment is not base64url without padding");
  if (protectedB64.length === 0 || protectedB64.length > MAX_HEADER_CHARS) malformed(`the protected header must be 1 to ${MAX_HEADER_CHARS} characters`);
  const headerBytes = decodeBase64url(protectedB64) ?? malformed("the protected header is not base64url");
  let header: unknown;
  try {
    header = JSON.parse(utf8.decode(headerBytes));
  } catch {
    malformed("the protected header is not UTF-8 JSON");
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) malformed("the protected header is not a JSON object");
  const h = header as Record<string, unknown>;
  // Algorithms first: nothing else is read from a header that asks for other crypto.
  if (h.alg !== "dir") unsupported(`alg ${JSON.stringify(h.alg)} is not accepted: only "dir"`);
  if (h.enc !== "A256GCM") unsupported(`enc ${JSON.stringify(h.enc)} is not accepted: only "A256GCM"`);
  if ("zip" in h) unsupported("compressed JWE (zip) is not accepted");
  if ("crit" in h) unsupported("crit extensions are not accepted");
  for (const member of Object.keys(h)) if (!HEADER_MEMBERS.has(member)) malformed(`the protected header member ${JSON.stringify(member).slice(0, 40)} is not part of this format`);
  if (encryptedKey !== "") malformed('a "dir" JWE has an empty encrypted key');

  const kid = typeof h.kid === "string" && KEY_ID.test(h.kid) ? Number(h.kid) : NaN;
  if (!(kid <= MAX_KEY_ID)) malformed(`kid must be a ring key id: a decimal integer from 0 to ${MAX_KEY_ID}`);
  if (typeof h.ctx !== "string" || h.ctx.length === 0 || h.ctx.length > 64) malformed("ctx must name the ticket's context");
  if (!isUnixSeconds(h.iat) || !isUnixSeconds(h.exp)) malformed("iat and exp must be unix seconds");
  const iat = h.iat as number;
  const exp = h.exp as number;
  if (exp <= iat || exp - iat > MAX_TICKET_LIFETIME) malformed(`exp must follow iat by 1 to ${MAX_TICKET_LIFETIME} seconds`);
  let lookupId: Bytes | undefined;
  if (h.sid !== undefined) {
    lookupId = typeof h.sid === "string" && h.sid.length <= 2 * MAX_LOOKUP_ID_BYTES ? decodeHex(h.sid) : undefined;
    if (!lookupId || lookupId.length === 0) malformed("sid must be 1 to 32 bytes of lowercase hex");
  }
  const iv = decodeBase64url(ivB64);
  if (!iv || iv.length !== NONCE_BYTES) malformed(`the IV must be ${NONCE_BYTES} bytes`);
  const tag = decodeBase64url(tagB64);
  if (!tag || tag.length !== TAG_BYTES) malformed(`the tag must be ${TAG_BYTES} bytes`);
  if (ciphertext.length === 0) malformed("the ciphertext is empty");
  // One encoding per ticket, as for the binary format: jose's decoder would
  // ignore the unused bits of the last character. Only the last group can
  // have any, so it alone is decoded here, strictly.
  const rest = ciphertext.length % 4;
  if (rest === 1 || (rest > 1 && !decodeBase64url(ciphertext.slice(-rest)))) malformed("the ciphertext is not base64url in its one canonical form");
  return { keyId: kid, context: h.ctx as string, issuedAt: iat, expiresAt: exp, lookupId, nonce: iv! };
}

/** Seals a session as a compact JWE ticket under the given subkey (the same inputs as a binary ticket). */
export async function sealJweTicket(input: Omit<SealInput, "nonce">): Promise<string> {
  checkSealInput(input);
  const { sessionId, keyId, issuedAt, lifetime, context } = input;
  const idHex = encodeHex(sessionId);
  const payload = { session_id: idHex, single_use: input.singleUse, ...(input.region ? { region: input.region } : {}), session: sessionToJson(input.session) };
  const jwe = await new CompactEncrypt(utf8.encode(JSON.stringify(payload)))
    .setProtectedHeader({
      alg: "dir",
      enc: "A256GCM",
      kid: String(keyId),
      ctx: context,
      iat: issuedAt,
      exp: issuedAt + lifetime,
      ...(input.withLookupId && { sid: idHex }),
    })
    .encrypt(input.key);
  // Every ticket the service issues is one it will open.
  if (jwe.length > MAX_TICKET_CHARS) {
    throw new ResumptionError("session_invalid", `the session is too large for a JWE ticket (${jwe.length} > ${MAX_TICKET_CHARS} characters)`, "session");
  }
  return jwe;
}

const DECRYPT_OPTIONS = { keyManagementAlgorithms: ["dir"], contentEncryptionAlgorithms: ["A256GCM"] };

/** Decrypted payload bytes, or undefined when the JWE does not authenticate under the key. */
async function decrypt(text: string, key: CryptoKey): Promise<Uint8Array | undefined> {
  try {
    return (await compactDecrypt(text, key, DECRYPT_OPTIONS)).plaintext;
  } catch {
    return undefined;
  }
}

/**
 * Opens a JWE ticket with the same outcomes as a binary one (src/core/ticket.ts):
 * key_unknown (with the sid for the store fallback), ticket_invalid,
 * ticket_expired, and a valid session or nothing; and context_mismatch,
 * told from the clear `ctx` before any crypto: it costs nothing, and names
 * no context but the one the ticket's holder can read in it anyway.
 */
export async function openJweTicket(text: string, options: OpenOptions, header = parseJweHeader(text)): Promise<OpenedTicket> {
  // Unauthenticated, but a ticket whose ctx is not ours cannot authenticate
  // under our subkey either (ctx is part of the AAD, the context of the key).
  if (header.context !== options.context) throw new ResumptionError("context_mismatch", "the ticket was issued for another context");
  const key = options.keys.subkey(header.keyId, options.context);
  if (key === undefined) throw new KeyUnknownError(header.keyId, header.lookupId);
  const plaintext = await decrypt(text, await key);
  if (!plaintext) throw new ResumptionError("ticket_invalid", "the ticket failed authentication");
  // Authenticated from here on; a JWK holder may still have written nonsense.
  if (header.issuedAt > options.now + MAX_ISSUE_SKEW) malformed("iat is in the future");
  if (options.now >= header.expiresAt) throw new ResumptionError("ticket_expired", "the ticket has expired");
  const payload = readPayload(plaintext, header);
  return {
    keyId: header.keyId,
    sessionId: payload.sessionId,
    hasLookupId: header.lookupId !== undefined,
    issuedAt: header.issuedAt,
    lifetime: header.expiresAt - header.issuedAt,
    expiresAt: header.expiresAt,
    singleUse: payload.singleUse,
    region: payload.region,
    session: payload.session,
  };
}

function readPayload(plaintext: Uint8Array, header: JweTicketHeader) {
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(plaintext as Bytes));
  } catch {
    malformed("the JWE payload is not UTF-8 JSON");
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) malformed("the JWE payload is not a JSON object");
  const p = json as Record<string, unknown>;
  for (const field of Object.keys(p)) if (!PAYLOAD_FIELDS.has(field)) malformed(`the JWE payload field ${JSON.stringify(field).slice(0, 40)} is not part of this format`);
  const sessionId = typeof p.session_id === "string" && p.session_id.length <= 2 * MAX_LOOKUP_ID_BYTES ? decodeHex(p.session_id) : undefined;
  if (!sessionId || sessionId.length === 0) malformed("the JWE payload's session_id must be 1 to 32 bytes of lowercase hex");
  if (header.lookupId && encodeHex(header.lookupId) !== p.session_id) malformed("the header's sid differs from the payload's session_id");
  if (p.single_use !== undefined && typeof p.single_use !== "boolean") malformed("the JWE payload's single_use must be a boolean");
  if (p.region !== undefined && !(Number.isInteger(p.region) && (p.region as number) >= 1 && (p.region as number) <= 255)) malformed("the JWE payload's region must be a code from 1 to 255");
  let session;
  try {
    session = parseSession(p.session, { now: header.issuedAt, timeout: header.expiresAt - header.issuedAt }, "session");
  } catch (err) {
    // The messages name fields, never their values.
    malformed(`the JWE payload's session is invalid: ${err instanceof Error ? err.message : "unreadable"}`);
  }
  return { sessionId: sessionId!, singleUse: p.single_use === true, region: (p.region as number | undefined) ?? 0, session: session! };
}
