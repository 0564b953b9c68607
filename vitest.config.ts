import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { buildStatusScript } from "./scripts/status-script.mjs";
import { TEST_CONTEXTS, TEST_MASTER_KEY, TEST_TOKENS } from "./test/worker/fixtures.js";

// Every project bundles the Worker, whose status page imports its script
// bundled from src/status/client: built here first, from the current sources.
await buildStatusScript();

const apiTokens = Object.fromEntries(
  Object.entries(TEST_TOKENS).map(([token, grant]) => [createHash("sha256").update(token).digest("hex"), grant]),
);

/** The test secrets both workerd projects run with. */
const workerBindings = {
  MASTER_KEY: TEST_MASTER_KEY,
  API_TOKENS: JSON.stringify(apiTokens),
  CONTEXTS: JSON.stringify(TEST_CONTEXTS),
};

// Two runtimes, one suite: the core tests run in workerd (the deployment
// runtime) and again in Node; worker tests run in workerd only; the browser
// test drives Debian's Chromium from Node.
export default defineConfig({
  test: {
    // One JSON line per request is the service's log (asserted in
    // test/worker/observability.test.ts); printed here it would drown the report.
    onConsoleLog: (line) => !line.includes('"event":"request"'),
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: workerBindings },
          }),
        ],
        test: {
          name: "workerd",
          include: ["test/core/**/*.test.ts", "test/worker/**/*.test.ts"],
        },
      },
      {
        // The fleet simulator's slice: the same bindings, with the simulator
        // Worker as main, so the Durable Object classes are its metered ones
        // (their own KV and vault calls go through the simulated fleet).
        plugins: [
          cloudflareTest({
            main: "./fleet/worker.ts",
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: workerBindings },
          }),
        ],
        test: {
          name: "fleet",
          include: ["test/fleet/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          // In-process only: tests that start a server, a browser or a child
          // process are in the e2e project.
          include: ["test/core/**/*.test.ts", "test/node/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
      {
        // End to end: the worker started locally (test/e2e/service.ts) with
        // real terminators in front of it (examples/node-tls-terminator,
        // Debian's nginx, HAProxy, Pike, Go) and openssl s_client as the TLS
        // client; the CLI and a calling Worker as child processes and
        // Miniflare workers; and Debian's Chromium (test/browser).
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts", "test/browser/**/*.test.ts"],
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
