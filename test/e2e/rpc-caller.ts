/**
 * A calling Worker for test/e2e/rpc-binding.test.ts: bound to the service's
 * ResumptionService entrypoint as docs/deploy.md shows, it calls the binding
 * for each request the test sends it and answers what the call returned.
 *
 *   POST /call {"method": "openTicket", "args": [token, {...}]}   -> the RpcResult, as JSON
 *   POST /open-bytes {"token", "ticket"}                          -> openTicket with the ticket as bytes
 *   POST /call-raw {"method", "args"}                             -> {"threw": name, "message"} when the call throws
 */
import type { ResumptionService } from "../../src/rpc/entrypoint.js";

interface Env {
  RESUMPTION: Service<ResumptionService>;
}

type Call = { method: Extract<keyof ResumptionService, string>; args: unknown[] };

function fromBase64url(text: string): Uint8Array {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const body = (await request.json()) as Record<string, unknown>;
    if (url.pathname === "/open-bytes") {
      return Response.json(await env.RESUMPTION.openTicket(body.token as string, { ticket: fromBase64url(body.ticket as string) }));
    }
    const { method, args } = body as unknown as Call;
    const target = env.RESUMPTION as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    try {
      return Response.json(await target[method]!(...args));
    } catch (e) {
      if (url.pathname === "/call-raw") return Response.json({ threw: (e as Error).name, message: (e as Error).message });
      throw e;
    }
  },
} satisfies ExportedHandler<Env>;
