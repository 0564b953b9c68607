import type { KeyRingObject } from "./keyring/object.js";
import type { ReplayGuardObject } from "./replay/object.js";

/** The Worker's bindings (wrangler.toml) and secrets (.dev.vars / wrangler secret). */
export interface Env {
  SESSIONS: KVNamespace;
  KEY_RING: DurableObjectNamespace<KeyRingObject>;
  REPLAY_GUARD: DurableObjectNamespace<ReplayGuardObject>;
  /** Optional Analytics Engine dataset: one data point per request, for fleet-wide metrics (src/observability/log.ts). */
  METRICS?: AnalyticsEngineDataset;
  MASTER_KEY?: string;
  API_TOKENS?: string;
  CONTEXTS?: string;
  KEY_RING_SETTINGS?: string;
  REPLAY_GUARD_SHARDS?: string;
  /** JSON: issuers whose JWTs are accepted beside API_TOKENS (src/auth/issuers.ts); absent: JWT authentication is off. */
  JWT_ISSUERS?: string;
}
