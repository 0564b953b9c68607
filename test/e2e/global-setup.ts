/**
 * Once before the e2e project: builds the client into dist/client/index.js,
 * the package's "./client" entry that the examples import (what
 * `npm run build:client` does), so the examples run against this tree.
 */
import { renameSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

export const CLIENT_BUNDLE = fileURLToPath(new URL("../../dist/client/index.js", import.meta.url));

export default async function setup(): Promise<void> {
  const tmp = `${CLIENT_BUNDLE}.${process.pid}.tmp`;
  await esbuild.build({
    entryPoints: [fileURLToPath(new URL("../../src/client/index.ts", import.meta.url))],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    outfile: tmp,
    logLevel: "warning",
  });
  // Atomic: a concurrent run never sees half a file.
  renameSync(tmp, CLIENT_BUNDLE);
}
