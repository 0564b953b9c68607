/**
 * The calling Worker of part 6: bound to the service twice, as another
 * Worker on the account would be, once to its ResumptionService entrypoint
 * (RPC) and once to its default entrypoint (HTTP over the binding, no
 * network), it opens the same ticket n times in a row either way. Timing is
 * done from outside, as for bench/workerd-core.ts: the Node side measures
 * each request's wall time, and n=0 gives the request's own overhead.
 *
 *   POST /setup {"token", "ticket"}    remembers them, opens once each way and checks both answers agree
 *   GET  /run?mode=rpc|http&n=<ops>    n opens, one after another; answers how many failed
 */
import type { ResumptionService } from "../src/rpc/entrypoint.js";

interface Env {
  RPC: Service<ResumptionService>;
  HTTP: Fetcher;
}

let setup: { token: string; ticket: string; body: string } | undefined;

async function openOverRpc(env: Env): Promise<unknown> {
  const r = await env.RPC.openTicket(setup!.token, { ticket: setup!.ticket });
  return r.ok ? r.value : undefined;
}

async function openOverHttp(env: Env): Promise<unknown> {
  // What a caller does with the HTTP answer: read its JSON.
  const res = await env.HTTP.fetch("https://resumption.internal/v1/tickets/open", {
    method: "POST",
    headers: { authorization: `Bearer ${setup!.token}`, "content-type": "application/json" },
    body: setup!.body,
  });
  const value = await res.json();
  return res.status === 200 ? value : undefined;
}

const json = (body: unknown, status = 200) => Response.json(body, { status });

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    try {
      if (url.pathname === "/setup") {
        const { token, ticket } = (await request.json()) as { token: string; ticket: string };
        setup = { token, ticket, body: JSON.stringify({ ticket }) };
        const [rpc, http] = [await openOverRpc(env), await openOverHttp(env)];
        if (!rpc || JSON.stringify(rpc) !== JSON.stringify(http)) return json({ error: "RPC and HTTP answer differently", rpc, http }, 500);
        return json({ ok: true });
      }
      if (url.pathname === "/run") {
        if (!setup) return json({ error: "POST /setup first" }, 400);
        const n = Number(url.searchParams.get("n") ?? "0");
        const open = url.searchParams.get("mode") === "rpc" ? openOverRpc : openOverHttp;
        let failed = 0;
        for (let i = 0; i < n; i++) if (!(await open(env))) failed++;
        return json({ n, failed });
      }
      return json({ error: "not found" }, 404);
    } catch (e) {
      return json({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) }, 500);
    }
  },
} satisfies ExportedHandler<Env>;
