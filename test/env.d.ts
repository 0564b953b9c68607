import type { Env as WorkerEnv } from "../src/env.js";

// Types `env` from "cloudflare:workers" in tests as the worker's own Env.
declare global {
  namespace Cloudflare {
    interface Env extends WorkerEnv {}
  }
}
