/**
 * esr health: GET /healthz (liveness, no token) and, with a token, GET
 * /v1/keys: the settings parse (no config_invalid) and the ring answers with
 * a key that encrypts. A token without the keys scope skips the second check.
 */
import type { Command } from "../command.js";
import { CliError, EXIT } from "../errors.js";
import { unwrap } from "../service-errors.js";

export const health: Command = {
  path: ["health"],
  summary: "is the service up: /healthz (no token needed), and with a token (scope keys) the key ring too",
  usage: "",
  service: "token-optional",
  options: {},
  async run(ctx) {
    const client = ctx.client();
    const started = performance.now();
    unwrap(await client.health());
    const liveMs = Math.round(performance.now() - started);
    const report: { status: "ok"; healthz_ms: number; ring?: { status: string; active_key?: number; code?: string } } = { status: "ok", healthz_ms: liveMs };
    if (ctx.hasToken()) {
      const r = await client.getKeys();
      if (r.ok) {
        const active = r.value.keys.find((k) => k.state === "active");
        if (!active) throw new CliError("keyring_unavailable", "the ring answers but no key encrypts now");
        report.ring = { status: "ok", active_key: active.id };
      } else if (r.error.code === "forbidden") {
        report.ring = { status: "not checked", code: "forbidden" };
      } else {
        unwrap(r);
      }
    }
    if (ctx.json) {
      ctx.printJson(report);
    } else {
      ctx.io.out(`ok: /healthz answered in ${liveMs} ms`);
      if (report.ring?.status === "ok") ctx.io.out(`ok: the key ring answers; key ${report.ring.active_key} encrypts`);
      else if (report.ring) ctx.io.out("key ring not checked: the token lacks the keys scope");
      else ctx.io.out("key ring not checked: no token (ESR_TOKEN or --token-file) or Access service token (ESR_HEADER_CF_ACCESS_CLIENT_*)");
    }
    return EXIT.ok;
  },
};
