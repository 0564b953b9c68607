/**
 * The binary format's building blocks that the service's other formats
 * reuse: the checks every ticket format makes of what it seals and opens
 * (src/tickets/jwe.ts), the byte reader and writer (src/store/records.ts),
 * and the session codec at the reader and writer level (bench/core-cases.ts).
 * Not part of the core's surface (./index.ts) nor of the package: these
 * change with the format.
 */
export { checkSealInput, MAX_ISSUE_SKEW, TAG_BYTES } from "./ticket.js";
export { NONCE_BYTES } from "./gcm.js";
export { ByteReader, ByteWriter } from "./binary.js";
export { readSession, writeSession } from "./session.js";
