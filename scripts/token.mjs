#!/usr/bin/env node
// Makes a new API token and its API_TOKENS entry: `esr token create` (src/cli;
// README.md#cli), kept under this name for existing runbooks.
//
//   node scripts/token.mjs --context default --scopes tickets,sessions [--json]
//   npx esr token create --context default --scopes tickets,sessions [--json]
import { runCli } from "../bin/esr.mjs";

await runCli(["token", "create", ...process.argv.slice(2)]);
