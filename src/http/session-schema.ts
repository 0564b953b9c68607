/** JSON Schema of the API's session object, built from the core's own limits. */
import { MAX_FRAGMENT_LENGTHS, SESSION_LIMITS, TLS_VERSIONS } from "../core/index.js";

const base64url = (description: string, maxBytes?: number) => ({
  type: "string",
  pattern: "^[A-Za-z0-9_-]*$",
  description: `${description} (base64url, no padding)`,
  ...(maxBytes !== undefined && { maxLength: Math.ceil((maxBytes * 4) / 3) }),
});

export const SESSION_JSON_SCHEMA = {
  type: "object",
  additionalProperties: false,
  description: "A TLS session. It needs master_secret or opaque; version and cipher_suite go with master_secret.",
  properties: {
    version: { type: "string", enum: [...TLS_VERSIONS] },
    cipher_suite: { type: "integer", minimum: 0, maximum: 65535, description: "IANA cipher suite value, e.g. 49195 for ECDHE-ECDSA-AES128-GCM-SHA256" },
    master_secret: base64url("48 bytes up to TLSv1.2; 32 or 48 for a TLSv1.3 resumption secret", 48),
    extended_master_secret: { type: "boolean", description: "RFC 7627; up to TLSv1.2" },
    encrypt_then_mac: { type: "boolean", description: "RFC 7366; up to TLSv1.2" },
    server_name: { type: "string", maxLength: SESSION_LIMITS.maxServerName, description: "SNI: a DNS host name, stored lowercase" },
    alpn: { type: "string", minLength: 1, maxLength: SESSION_LIMITS.maxAlpn },
    peer_certificate_chain: { type: "array", maxItems: SESSION_LIMITS.maxCertificates, items: base64url("a DER certificate", SESSION_LIMITS.maxCertificate) },
    max_fragment_length: { type: "integer", enum: [...MAX_FRAGMENT_LENGTHS] },
    ticket_age_add: { type: "integer", minimum: 0, maximum: 0xffffffff, description: "TLSv1.3" },
    max_early_data: { type: "integer", minimum: 0, maximum: 0xffffffff, description: "TLSv1.3" },
    created_at: { type: "integer", minimum: 0, maximum: SESSION_LIMITS.maxCreatedAt, description: "unix seconds; default now" },
    timeout: { type: "integer", minimum: 1, maximum: SESSION_LIMITS.maxTimeout, description: "seconds" },
    opaque: base64url("the caller's own serialized session (i2d_SSL_SESSION, Node's session data)", SESSION_LIMITS.maxOpaque),
  },
} as const;
