/**
 * Settings shared by the worker tests and vitest.config.ts (which turns them
 * into bindings). Plain data, importable from Node and workerd alike.
 */
export const TEST_MASTER_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

export const TEST_CONTEXTS = {
  alpha: { ticket_lifetime: 7200, session_timeout: 300 },
  beta: { ticket_lifetime: 3600, session_timeout: 600 },
};

/** token -> grant. The config holds only SHA-256 hashes of these. */
export const TEST_TOKENS = {
  "alpha-all": { context: "alpha", scopes: ["tickets", "sessions", "keys", "admin", "stek"] },
  "alpha-tickets": { context: "alpha", scopes: ["tickets"] },
  "alpha-sessions": { context: "alpha", scopes: ["sessions"] },
  "alpha-keys": { context: "alpha", scopes: ["keys"] },
  "beta-all": { context: "beta", scopes: ["tickets", "sessions", "keys", "admin", "stek"] },
} as const;

export type TestToken = keyof typeof TEST_TOKENS;
