import { createHash } from "node:crypto";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";
import { TEST_CONTEXTS, TEST_MASTER_KEY, TEST_TOKENS } from "./test/worker/fixtures.js";

const apiTokens = Object.fromEntries(
  Object.entries(TEST_TOKENS).map(([token, grant]) => [createHash("sha256").update(token).digest("hex"), grant]),
);

// Two runtimes, one suite: the core tests run in workerd (the deployment
// runtime) and again in Node; worker tests run in workerd only; the browser
// test drives Debian's Chromium from Node.
export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: {
              bindings: {
                MASTER_KEY: TEST_MASTER_KEY,
                API_TOKENS: JSON.stringify(apiTokens),
                CONTEXTS: JSON.stringify(TEST_CONTEXTS),
              },
            },
          }),
        ],
        test: {
          name: "workerd",
          include: ["test/core/**/*.test.ts", "test/worker/**/*.test.ts"],
        },
      },
      {
        test: {
          name: "node",
          environment: "node",
          include: ["test/core/**/*.test.ts", "test/node/**/*.test.ts", "test/browser/**/*.test.ts"],
          testTimeout: 60_000,
        },
      },
    ],
  },
});
