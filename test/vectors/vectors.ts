/**
 * The interop vectors (ticket-v1.json) as typed data, and the one mapping from
 * a vector to sealTicket's input. Web APIs only: the vitest files (workerd and
 * Node) and the in-browser runner (Chromium) share it.
 */
import { decodeHex, parseSession, sealTicket, TicketKeyCache, type SessionJson } from "../../src/core/index.js";
import raw from "./ticket-v1.json";

export interface ValidVector {
  name: string;
  type: "valid";
  description: string;
  key_id: number;
  key_material: string;
  context: string;
  nonce: string;
  session_id: string;
  with_lookup_id: boolean;
  issued_at: number;
  lifetime: number;
  single_use: boolean;
  session_defaults: { now: number; timeout: number };
  session: Record<string, unknown>;
  open_at: number;
  expected: {
    session: SessionJson;
    session_bytes: string;
    expires_at: number;
    ticket_length: number;
    ticket: string;
    ticket_base64url: string;
  };
}

export interface InvalidVector {
  name: string;
  type: "invalid";
  description: string;
  derived_from: string;
  key_id: number;
  key_material: string;
  context: string;
  open_at: number;
  ticket: string;
  expected_error: { code: string; lookup_id?: string };
}

export const vectors = raw as unknown as (ValidVector | InvalidVector)[];
export const valid = vectors.filter((v): v is ValidVector => v.type === "valid");
export const invalid = vectors.filter((v): v is InvalidVector => v.type === "invalid");

export function hex(text: string): Uint8Array<ArrayBuffer> {
  const b = decodeHex(text);
  if (!b) throw new Error(`bad hex in vector: ${text.slice(0, 16)}…`);
  return b;
}

export async function keysFor(v: { key_id: number; key_material: string; context: string }) {
  const keys = new TicketKeyCache();
  keys.add(v.key_id, hex(v.key_material));
  const key = await keys.subkey(v.key_id, v.context);
  if (!key) throw new Error("no subkey");
  return { keys, key };
}

/** Seals a valid vector with its fixed nonce: the bytes must equal expected.ticket. */
export function sealVector(v: ValidVector, key: CryptoKey): Promise<Uint8Array<ArrayBuffer>> {
  return sealTicket({
    session: parseSession(v.session, v.session_defaults),
    sessionId: hex(v.session_id),
    withLookupId: v.with_lookup_id,
    issuedAt: v.issued_at,
    lifetime: v.lifetime,
    singleUse: v.single_use,
    context: v.context,
    keyId: v.key_id,
    key,
    nonce: hex(v.nonce),
  });
}
