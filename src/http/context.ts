import type { Context } from "hono";
import type { Env } from "../env.js";
import type { Services } from "../services.js";
import type { Caller } from "../auth/caller.js";

/** Hono's environment for this app: bindings plus what middleware puts on the context. */
export interface AppEnv {
  Bindings: Env;
  Variables: { services: Services; caller: Caller };
}

export type AppContext = Context<AppEnv>;

/** Keeps a background task (e.g. a ring refresh) alive after the response, where the runtime allows. */
export function deferTo(c: AppContext): (p: Promise<unknown>) => void {
  return (p) => {
    try {
      c.executionCtx.waitUntil(p);
    } catch {
      // app.request() in tests has no execution context; the promise still runs.
    }
  };
}
