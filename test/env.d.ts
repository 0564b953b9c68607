import type { Env as WorkerEnv } from "../src/env.js";

// Types `env` from "cloudflare:workers" in tests as the worker's own Env.
declare global {
  namespace Cloudflare {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type -- declaration merging: Cloudflare.Env becomes the worker's Env
    interface Env extends WorkerEnv {}
  }
}
