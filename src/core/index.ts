/**
 * The runtime-agnostic core: Web APIs only (crypto.subtle, getRandomValues,
 * TextEncoder/TextDecoder), so it runs unchanged in Workers, browsers and Node.
 *
 * This file is the core's surface, every name listed: what code outside
 * src/core may import. Each list starts with the package's "./core" entry
 * (src/entries/core.ts re-exports exactly those, README.md's "The core as a
 * package" documents them), then names what only the service uses, which
 * may change without notice. The binary format's building blocks that the
 * service's other formats reuse are in ./internal.ts, apart; nothing else in
 * src/core is for use outside it.
 */

// Tickets
export {
  sealTicket,
  openTicket,
  parseTicketHeader,
  TICKET_VERSION,
  TICKET_OVERHEAD,
  MAX_TICKET_BYTES,
  MAX_LOOKUP_ID_BYTES,
  type SealInput,
  type OpenOptions,
  type OpenedTicket,
  type TicketHeader,
} from "./ticket.js";

// Keys
export {
  TicketKeyCache,
  KEY_BYTES,
  MAX_KEY_ID,
  type TicketKeySource,
  // The service's: its other HKDF uses (the store's record keys, the ring's KEK, exported STEKs).
  HKDF_LABEL,
  importHkdfKey,
  deriveAesGcmKey,
  deriveBytes,
} from "./keys.js";

// Sessions
export {
  parseSession,
  sessionToJson,
  encodeSession,
  decodeSession,
  TLS_VERSIONS,
  SESSION_LIMITS,
  type Session,
  type SessionJson,
  type SessionDefaults,
  type TlsVersion,
  // The service's: the API's JSON Schema of a session.
  MAX_FRAGMENT_LENGTHS,
} from "./session.js";
// The service's: a peer's host name (src/store/peer.ts).
export { isHostName } from "./hostname.js";

// Errors
export { ResumptionError, KeyUnknownError, isResumptionError, CORE_ERROR_CODES, type CoreErrorCode, type FieldIssue } from "./errors.js";

// Encoding
export {
  encodeBase64url,
  decodeBase64url,
  encodeHex,
  decodeHex,
  timingSafeEqual,
  type Bytes,
  // The service's.
  bytesEqual,
  utf8,
} from "./encoding.js";
