/**
 * The production worker with a clock the e2e tests can move forward, so that
 * key rotations and expiries happen without sleeping (as in test/worker, where
 * each simulated location has an injected clock). Only test/e2e/service.ts
 * bundles this entry; it is never deployed.
 *
 *   POST /__e2e/clock {"advance": seconds}  moves the service's clock forward
 *   GET  /__e2e/clock                       {"now", "offset"}
 */
import worker from "../../src/index.js";
import { createApp } from "../../src/app.js";
import { KeyRingObject as RingObject } from "../../src/keyring/object.js";

// The Durable Object classes and anything else the production entry exports.
export * from "../../src/index.js";

/** Milliseconds added to the real clock. The ring object shares this isolate (workerd runs a worker's objects in its isolate). */
let offsetMs = 0;
const clock = () => Date.now() + offsetMs;

/** The ring's writer, on the same clock for its alarms (maintenance at the moved time, never at the real one). */
export class KeyRingObject extends RingObject {
  override clock = clock;
}

const app = createApp({ clock });

export default {
  async fetch(request: Request, env: never, ctx: ExecutionContext): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/__e2e/clock") {
      if (request.method === "POST") {
        const { advance } = (await request.json()) as { advance: number };
        if (!Number.isInteger(advance) || advance < 0) return Response.json({ error: "advance: a non-negative integer of seconds" }, { status: 400 });
        offsetMs += advance * 1000;
      }
      return Response.json({ now: Math.floor(clock() / 1000), offset: offsetMs / 1000 });
    }
    return app.fetch(request, env, ctx);
  },
  scheduled: (...args: Parameters<typeof worker.scheduled>) => worker.scheduled(...args),
};
