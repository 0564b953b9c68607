/** Worker entry: the HTTP app, the Cron backstop, and the Durable Object classes. */
import { createApp } from "./app.js";
import type { Env } from "./env.js";
import { ringObject } from "./services.js";

export { KeyRingObject } from "./keyring/object.js";
export { ReplayGuardObject } from "./replay/object.js";

const app = createApp();

export default {
  fetch: app.fetch,
  /** Backstop for the ring's alarm: maintaining an up-to-date ring is a no-op. */
  async scheduled(controller: ScheduledController, env: Env): Promise<void> {
    await ringObject(env).maintain(Math.floor(controller.scheduledTime / 1000));
  },
} satisfies ExportedHandler<Env>;
