#!/usr/bin/env node
// Makes a new API token: 32 random bytes, and the API_TOKENS entry that
// grants it (the service stores only the token's SHA-256).
//
//   node scripts/token.mjs --context default --scopes tickets,sessions
//   node scripts/token.mjs --context default --scopes admin --json
//
// Give the token to its caller once; add the entry to your copy of the
// API_TOKENS JSON and upload it with `npx wrangler secret put API_TOKENS`
// (docs/deploy.md). Nothing is written anywhere by this script.
import { createHash, randomBytes } from "node:crypto";
import { parseArgs } from "node:util";

// As in src/config.ts.
const SCOPES = ["tickets", "sessions", "keys", "admin", "stek"];
const CONTEXT_NAME = /^[A-Za-z0-9._-]{1,64}$/;

function fail(message) {
  console.error(`token.mjs: ${message}`);
  console.error("usage: node scripts/token.mjs [--context NAME] [--scopes s1,s2,...] [--json]");
  process.exit(2);
}

let args;
try {
  args = parseArgs({
    options: {
      context: { type: "string", default: "default" },
      scopes: { type: "string", default: "tickets" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
} catch (e) {
  fail(e.message);
}
if (args.help) {
  console.log(`usage: node scripts/token.mjs [--context NAME] [--scopes s1,s2,...] [--json]\nscopes: ${SCOPES.join(", ")}`);
  process.exit(0);
}

const context = args.context;
if (!CONTEXT_NAME.test(context)) fail(`--context must be 1 to 64 of A-Z a-z 0-9 . _ - (got ${JSON.stringify(context)})`);
const scopes = [...new Set(args.scopes.split(",").map((s) => s.trim()).filter(Boolean))];
const unknown = scopes.filter((s) => !SCOPES.includes(s));
if (scopes.length === 0 || unknown.length > 0) fail(`--scopes must list some of ${SCOPES.join(", ")}${unknown.length ? ` (unknown: ${unknown.join(", ")})` : ""}`);

const token = `esr_${randomBytes(32).toString("base64url")}`;
const hash = createHash("sha256").update(token).digest("hex");
const grant = { context, scopes };

if (args.json) {
  console.log(JSON.stringify({ token, hash, entry: { [hash]: grant } }));
} else {
  console.log(`token (give it to the caller; it is not stored anywhere):\n  ${token}\n`);
  console.log(`API_TOKENS entry (add it to the JSON object, then: npx wrangler secret put API_TOKENS):\n  ${JSON.stringify(hash)}: ${JSON.stringify(grant)}`);
}
