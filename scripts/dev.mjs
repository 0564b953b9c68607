#!/usr/bin/env node
// `npm start`: serve the worker on 127.0.0.1:8787 with local KV and Durable
// Object state under .wrangler/state. The first run writes a git-ignored
// .dev.vars with a random MASTER_KEY and a development API token; an
// existing .dev.vars is never overwritten.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const VARS = ".dev.vars";
const PORT = process.env.PORT ?? "8787";

if (!existsSync(VARS)) {
  const token = `esr_dev_${randomBytes(24).toString("base64url")}`;
  const hash = createHash("sha256").update(token).digest("hex");
  const grants = { [hash]: { context: "default", scopes: ["tickets", "sessions", "keys", "admin", "stek", "metrics"] } };
  writeFileSync(
    VARS,
    [
      "# Written by `npm start` for local development only. Never commit this file.",
      `# DEV_TOKEN=${token}`,
      `MASTER_KEY=${randomBytes(32).toString("base64url")}`,
      `API_TOKENS='${JSON.stringify(grants)}'`,
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  console.log(`Created ${VARS} with a random MASTER_KEY and a development token.`);
}

const token = /^# DEV_TOKEN=(\S+)$/m.exec(readFileSync(VARS, "utf8"))?.[1] ?? "<your token>";
const base = `http://127.0.0.1:${PORT}`;
console.log(`
Try it:
  curl ${base}/healthz
  curl -H 'authorization: Bearer ${token}' ${base}/v1/keys
  curl -H 'authorization: Bearer ${token}' -H 'content-type: application/json' \\
       -d '{"session":{"version":"TLSv1.2","cipher_suite":49195,"master_secret":"${Buffer.alloc(48, 7).toString("base64url")}"}}' \\
       ${base}/v1/tickets
`);

const child = spawn(
  "npx",
  ["wrangler", "dev", "--ip", "127.0.0.1", "--port", PORT, "--persist-to", ".wrangler/state", ...process.argv.slice(2)],
  { stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false" } },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));
