/**
 * The package's "./core" entry (`npm run build:core`: dist/core/index.js):
 * ticket format v1 (docs/ticket-format.md) for an application that seals
 * and opens tickets in its own Worker, page or Node process, with the same
 * code the service runs. Web APIs only (crypto.subtle), no dependencies.
 *
 * This list is the public surface, and README.md's "The core as a package"
 * names each of its members (test/node/core-entry.test.ts holds the two to
 * each other). Everything else in src/core (the byte codec, HKDF helpers,
 * the service's shortcuts) is internal and may change without notice.
 */
export {
  // Tickets
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
  // Keys
  TicketKeyCache,
  KEY_BYTES,
  MAX_KEY_ID,
  type TicketKeySource,
  // Sessions
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
  // Errors
  ResumptionError,
  KeyUnknownError,
  isResumptionError,
  CORE_ERROR_CODES,
  type CoreErrorCode,
  type FieldIssue,
  // Encoding
  encodeBase64url,
  decodeBase64url,
  encodeHex,
  decodeHex,
  timingSafeEqual,
  type Bytes,
} from "../core/index.js";
