import type { KeyRingObject } from "./keyring/object.js";

/** The Worker's bindings (wrangler.toml) and secrets (.dev.vars / wrangler secret). */
export interface Env {
  SESSIONS: KVNamespace;
  KEY_RING: DurableObjectNamespace<KeyRingObject>;
  MASTER_KEY?: string;
  API_TOKENS?: string;
  CONTEXTS?: string;
  KEY_RING_SETTINGS?: string;
}
