/** Types for scripts/status-script.mjs (imported by vitest.config.ts and test/browser/status-page.test.ts). */
/** The page's script, bundled from the TypeScript sources as they are now. */
export declare function bundleStatusScript(root?: string): Promise<string>;
/** Writes src/status/script.bundle.js if its bundle changed; resolves with its path. */
export declare function buildStatusScript(root?: string): Promise<string>;
