/**
 * Settings shared by the worker tests and vitest.config.ts (which turns them
 * into bindings). Plain data, importable from Node and workerd alike.
 */
export const TEST_MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

export const TEST_CONTEXTS = {
  alpha: { ticket_lifetime: 7200, session_timeout: 300 },
  beta: { ticket_lifetime: 3600, session_timeout: 600 },
  // Session store contexts (test/worker/sessions*.test.ts, session-cache*.test.ts); token = context name.
  "sess-off": { cache_mode: "off" },
  "sess-client": { cache_mode: "client" },
  "sess-both": { cache_mode: "both" },
  "sess-prefix1": { id_prefix: "ab", id_length: 1 },
  "sess-host": { id_prefix: "7777772d3138", id_length: 16 },
  "sess-nolookup": { flags: ["no_internal_lookup"] },
  "sess-nostore": { flags: ["no_internal_store"] },
  "sess-nointernal": { flags: ["no_internal"] },
  "sess-noclear": { flags: ["no_auto_clear"] },
  "sess-touch": { flags: ["update_time"], session_timeout: 60 },
  "sess-small": { cache_size: 2 },
};

/** token -> grant. The config holds only SHA-256 hashes of these. */
export const TEST_TOKENS = {
  "alpha-all": { context: "alpha", scopes: ["tickets", "sessions", "keys", "admin", "stek"] },
  "alpha-tickets": { context: "alpha", scopes: ["tickets"] },
  "alpha-sessions": { context: "alpha", scopes: ["sessions"] },
  "alpha-keys": { context: "alpha", scopes: ["keys"] },
  "alpha-metrics": { context: "alpha", scopes: ["metrics"] },
  "beta-all": { context: "beta", scopes: ["tickets", "sessions", "keys", "admin", "stek"] },
  "sess-off": { context: "sess-off", scopes: ["tickets", "sessions", "admin"] },
  "sess-client": { context: "sess-client", scopes: ["tickets", "sessions", "admin"] },
  "sess-both": { context: "sess-both", scopes: ["tickets", "sessions", "admin"] },
  "sess-prefix1": { context: "sess-prefix1", scopes: ["sessions", "admin"] },
  "sess-host": { context: "sess-host", scopes: ["sessions", "admin"] },
  "sess-nolookup": { context: "sess-nolookup", scopes: ["sessions", "admin"] },
  "sess-nostore": { context: "sess-nostore", scopes: ["sessions", "admin"] },
  "sess-nointernal": { context: "sess-nointernal", scopes: ["sessions", "admin"] },
  "sess-noclear": { context: "sess-noclear", scopes: ["sessions", "admin"] },
  "sess-touch": { context: "sess-touch", scopes: ["sessions", "admin"] },
  "sess-small": { context: "sess-small", scopes: ["sessions", "admin"] },
} as const;

export type TestToken = keyof typeof TEST_TOKENS;
