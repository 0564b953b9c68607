/**
 * The runtime-agnostic core: Web APIs only (crypto.subtle, getRandomValues,
 * TextEncoder/TextDecoder), so it runs unchanged in Workers, browsers and Node.
 */
export * from "./errors.js";
export * from "./encoding.js";
export * from "./session.js";
export * from "./keys.js";
export * from "./ticket.js";
export { ByteReader, ByteWriter } from "./binary.js";
