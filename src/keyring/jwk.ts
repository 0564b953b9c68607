/**
 * The ring's per-context ticket subkeys as a JWK Set (RFC 7517), for JOSE
 * consumers of JWE tickets (src/tickets/jwe.ts): an application opens the
 * service's JWE tickets, or makes its own, with any JOSE library.
 *
 * Each JWK is exactly the AES-256-GCM subkey the service seals that
 * context's tickets with (HKDF-SHA-256 of the ring key, label "esr ticket
 * v1", the context in the info): so whoever holds it can also open and forge
 * that context's binary tickets. Hand it only where a ticket key belongs.
 * Pure function of the live keys and their derived bytes; the route
 * (src/routes/keys.ts) derives them.
 */
import { encodeBase64url, type Bytes } from "../core/index.js";
import { refreshAfter, type LiveKey } from "./export.js";
import type { KeyTimes } from "./schedule.js";

export interface TicketJwk {
  kty: "oct";
  alg: "A256GCM";
  use: "enc";
  /** The ring key id, decimal: the kid of the JWE tickets it seals. */
  kid: string;
  /** Only the active key encrypts; pending and retiring keys only decrypt. */
  key_ops: ("encrypt" | "decrypt")[];
  k: string;
  state: LiveKey["state"];
  activates_at: number;
  deactivates_at: number;
  expires_at: number;
}

export interface JwkExport {
  format: "jwk";
  context: string;
  now: number;
  /** A JWK Set: this object is one, with the service's fields beside "keys". */
  keys: TicketJwk[];
  /** Changes exactly when a key or a key's state changes. */
  revision: string;
  next_change_at: number | null;
  refresh_after: number;
}

const STATE_ORDER = { active: 0, pending: 1, retiring: 2 } as const;

/**
 * The active key first (JOSE libraries that pick the first matching key
 * encrypt with it), then pending keys, then retiring ones, newest first.
 */
export function renderJwkExport(
  live: readonly LiveKey[],
  bytes: ReadonlyMap<number, Bytes>,
  options: { context: string; now: number; cacheTtl: number; liveTimes: readonly KeyTimes[] },
): JwkExport {
  const ordered = live
    .filter((k): k is LiveKey & { state: keyof typeof STATE_ORDER } => k.state in STATE_ORDER)
    .sort((a, b) => STATE_ORDER[a.state] - STATE_ORDER[b.state] || b.activates_at - a.activates_at);
  const keys = ordered.map((k): TicketJwk => {
    const material = bytes.get(k.id);
    if (!material || material.length !== 32) throw new Error(`no 32-byte subkey for ring key ${k.id}`);
    return {
      kty: "oct",
      alg: "A256GCM",
      use: "enc",
      kid: String(k.id),
      key_ops: k.state === "active" ? ["encrypt", "decrypt"] : ["decrypt"],
      k: encodeBase64url(material),
      state: k.state,
      activates_at: k.activates_at,
      deactivates_at: k.deactivates_at,
      expires_at: k.expires_at,
    };
  });
  return {
    format: "jwk",
    context: options.context,
    now: options.now,
    keys,
    revision: `jwk.${keys.map((k) => `${Number(k.kid).toString(16)}${k.state[0]}`).join("-")}`,
    ...refreshAfter(options.liveTimes, options.now, options.cacheTtl),
  };
}
