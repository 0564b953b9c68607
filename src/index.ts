/** Worker entry: the HTTP app, the Cron backstop, the Durable Object classes and the Service Binding entrypoint. */
import { createApp } from "./app.js";
import type { Env } from "./env.js";
import { isolateServices } from "./isolate.js";
import { ringObject } from "./services.js";

export { KeyRingObject } from "./keyring/object.js";
export { KeyVaultObject } from "./keyring/vault.js";
export { ReplayGuardObject } from "./replay/object.js";
/** Other Workers' way in: RPC over a Service Binding (src/rpc/, docs/deploy.md). */
export { ResumptionService } from "./rpc/entrypoint.js";

const app = createApp({ servicesFor: isolateServices });

export default {
  fetch: app.fetch,
  /** Backstop for the ring's alarm: maintaining an up-to-date ring is a no-op. */
  async scheduled(controller: ScheduledController, env: Env): Promise<void> {
    await ringObject(env).maintain(Math.floor(controller.scheduledTime / 1000));
  },
} satisfies ExportedHandler<Env>;
