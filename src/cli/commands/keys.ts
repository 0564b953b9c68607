/**
 * esr keys status: the ring (GET /v1/keys, scope keys or admin) as a table.
 * esr keys rotate: POST /v1/keys/rotate (admin); --revoke destroys every key
 * that has encrypted, after a confirmation (or --yes).
 */
import type { KeyInfo, KeyRingState, ResumptionClient } from "../../client/index.js";
import { flag } from "../args.js";
import type { Command } from "../command.js";
import { CliError, EXIT } from "../errors.js";
import { fields, duration, table, when } from "../format.js";
import { confirm } from "../io.js";
import { unwrap } from "../service-errors.js";

export function ringTable(keys: readonly KeyInfo[], now: number): string {
  const rows = [...keys]
    .sort((a, b) => a.activates_at - b.activates_at)
    .map((k) => [String(k.id), k.state, when(k.activates_at, now), when(k.deactivates_at, now), when(k.expires_at, now)]);
  return table(["ID", "STATE", "ACTIVATES", "DEACTIVATES", "EXPIRES"], rows);
}

export function settingsText(settings: KeyRingState["settings"]): string {
  const pairs = Object.entries(settings).map(([name, value]) => {
    if (typeof value !== "number") return [name, JSON.stringify(value)] as const;
    if (name === "peak_seal_rate") return [name, `${value} /s`] as const;
    return [name, `${value} s (${duration(value)})`] as const;
  });
  return fields(pairs, "  ");
}

export function ringText(ring: KeyRingState): string {
  const lines = [`key ring at ${when(ring.now, ring.now).replace(" (now)", "")} (the service's clock)`, "", ringTable(ring.keys, ring.now), "", "settings", settingsText(ring.settings)];
  if (!ring.keys.some((k) => k.state === "active")) lines.push("", "warning: no key encrypts now");
  return lines.join("\n");
}

export const keysStatus: Command = {
  path: ["keys", "status"],
  summary: "the key ring: each key's state and times, and the rotation settings (scope keys or admin)",
  usage: "",
  service: "token",
  options: {},
  async run(ctx) {
    const ring = unwrap(await ctx.client().getKeys());
    if (ctx.json) ctx.printJson(ring);
    else ctx.io.out(ringText(ring));
    return EXIT.ok;
  },
};

/** The keys a revoke would destroy: every key that has started encrypting (src/keyring/object.ts). */
async function revokeTargets(client: ResumptionClient): Promise<string | undefined> {
  const r = await client.getKeys();
  if (!r.ok) return undefined;
  const doomed = r.value.keys.filter((k) => k.activates_at <= r.value.now);
  return doomed.map((k) => `${k.id} (${k.state})`).join(", ") || "none";
}

export const keysRotate: Command = {
  path: ["keys", "rotate"],
  summary: "rotate now (scope admin); --revoke also destroys every key that has encrypted",
  usage: "[--revoke] [--yes]",
  service: "token",
  options: {
    revoke: { type: "boolean", description: "destroy every older key at once (suspected key compromise): their tickets stop resuming" },
    yes: { type: "boolean", short: "y", description: "revoke without asking (required when not at a terminal)" },
  },
  help:
    "A plain rotation is safe at any time: the published successor encrypts as soon as every\n" +
    "location can know it (at once if it was published prepublish_lead ago). A revoke makes the\n" +
    "successor encrypt now and destroys the older keys: every outstanding ticket costs a full\n" +
    "handshake, and file-based proxies must fetch and reload (esr export) at once.",
  async run(ctx, args) {
    const revoke = flag(args, "revoke");
    const client = ctx.client();
    if (revoke && !flag(args, "yes")) {
      if (!ctx.io.interactive) {
        throw new CliError("confirmation_required", "refusing to revoke without --yes: not at a terminal, so nobody can confirm (nothing was changed)");
      }
      const targets = await revokeTargets(client);
      ctx.io.err(`Revoking destroys ${targets === undefined ? "every key that has encrypted" : `keys ${targets}`}: every ticket they sealed stops resuming.`);
      if (!(await confirm(ctx.io, "Revoke now?"))) {
        ctx.io.err("esr: not revoked (nothing was changed)");
        return EXIT.unchanged;
      }
    }
    const answer = await client.rotateKeys(revoke ? { revoke: true } : {});
    if (!answer.ok && (answer.error.code === "timeout" || answer.error.code === "network_error" || answer.error.code === "keyring_unavailable")) {
      // Not retried (not idempotent): the request may have reached the ring.
      throw new CliError(answer.error.code, answer.error.message, {
        ...(answer.error.status !== undefined && { status: answer.error.status }),
        hint: "the rotation may or may not have happened: check with esr keys status before trying again",
      });
    }
    const result = unwrap(answer);
    if (ctx.json) {
      ctx.printJson(result);
      return EXIT.ok;
    }
    const successor = result.keys.find((k) => k.activates_at === result.activates_at && k.state !== "retiring");
    ctx.io.out(`rotated: ${successor ? `key ${successor.id}` : "the successor"} encrypts from ${when(result.activates_at, result.now)}`);
    if (revoke) ctx.io.out(`revoked: ${result.revoked.length ? result.revoked.join(", ") : "none"}`);
    ctx.io.out(`\n${ringTable(result.keys, result.now)}`);
    return EXIT.ok;
  },
};
