// @ts-check
/**
 * `npm run lint` (run by .ci/run). typescript-eslint's type-checked rules on
 * every TypeScript file, so a promise nobody awaits or a misused async
 * callback is an error; unused code is an error; and src/core, the
 * runtime-agnostic core, may import only its own files and touch only Web
 * APIs (it runs unchanged in browsers, Workers and Node).
 */
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

/** Globals of one runtime or another: the core touches Web APIs only. */
const RUNTIME_GLOBALS = [
  "Buffer", "process", "require", "module", "__dirname", "__filename", "global", "Deno", "Bun",
  "caches", "navigator", "window", "document", "HTMLRewriter", "WebSocketPair", "scheduler",
].map((name) => ({ name, message: "src/core runs in browsers, Workers and Node alike: Web APIs only." }));

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "test-results/", "**/*.bundle.js", ".wrangler/"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      // Unused code: `_`-prefixed parameters and the siblings of a rest
      // (`const { omitted, ...kept } = x`) say "deliberately unused".
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", ignoreRestSiblings: true, caughtErrors: "none" }],
      // An async method that does not await is how a synchronous store
      // implements an async interface (MemoryStorage, the test doubles).
      "@typescript-eslint/require-await": "off",
      // Judged against a different view of the globals than tsc's (Workers
      // and Node both declare Response.json()): it calls needed assertions
      // unnecessary. tsc is the judge of types here.
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      // Rethrowing what a catch caught is not throwing a non-error.
      "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true }],
      // A best-effort cleanup's `catch {}` says what it means.
      "no-empty": ["error", { allowEmptyCatch: true }],
    },
  },
  {
    // Plain JavaScript (scripts, the benchmark, the examples): no types to
    // check against, the rest of the rules still apply.
    files: ["**/*.mjs", "**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Tests, benchmarks, the fuzzer and the simulator read JSON answers as
    // `any` on purpose: what they assert is the shape. The service's own
    // code (src/) keeps every no-unsafe rule.
    files: ["test/**", "bench/**", "fuzz/**", "fleet/**"],
    rules: {
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
    },
  },
  {
    files: ["src/core/**/*.ts"],
    languageOptions: { globals: {} },
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              regex: "^(?!\\./[^/]+\\.js$)",
              message: "src/core has no dependencies: it imports only its own files (./name.js), never a package, a runtime module or the rest of src.",
            },
          ],
        },
      ],
      "no-restricted-globals": ["error", ...RUNTIME_GLOBALS],
      "no-restricted-syntax": [
        "error",
        { selector: "ImportExpression", message: "src/core loads no code at run time." },
        { selector: "CallExpression[callee.name='require']", message: "src/core loads no code at run time." },
      ],
      "no-eval": "error",
      "no-new-func": "error",
      "no-implied-eval": "off",
      "@typescript-eslint/no-implied-eval": "error",
    },
  },
);
