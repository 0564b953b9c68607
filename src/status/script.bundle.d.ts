/**
 * The status page's script as text: src/status/client/ (TypeScript, DOM),
 * bundled by scripts/status-script.mjs into script.bundle.js beside this
 * file. That module is generated and git-ignored; wrangler's [build]
 * command, vitest.config.ts and `npm run soak` write it before the Worker is
 * bundled (scripts/status-script.mjs says why this way).
 */
export declare const STATUS_SCRIPT: string;
