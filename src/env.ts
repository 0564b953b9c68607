import type { SettingsEnv } from "./config.js";
import type { KeyRingObject } from "./keyring/object.js";
import type { KeyVaultObject } from "./keyring/vault.js";
import type { ReplayGuardObject } from "./replay/object.js";

/** The Worker's bindings (wrangler.toml) and, from SettingsEnv, its settings and secrets (.dev.vars / wrangler secret). */
export interface Env extends SettingsEnv {
  SESSIONS: KVNamespace;
  KEY_RING: DurableObjectNamespace<KeyRingObject>;
  /** Where ring key material lives (key-value storage: no point-in-time recovery). */
  KEY_VAULT: DurableObjectNamespace<KeyVaultObject>;
  REPLAY_GUARD: DurableObjectNamespace<ReplayGuardObject>;
  /** Optional Analytics Engine dataset: one data point per request, for fleet-wide metrics (src/observability/log.ts). */
  METRICS?: AnalyticsEngineDataset;
}
