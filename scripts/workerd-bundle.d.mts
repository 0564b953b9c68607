/** Types for scripts/workerd-bundle.mjs (imported by test/e2e/service.ts). */
import type { BuildOptions } from "esbuild";
/** esbuild options that bundle a Worker entry for workerd. */
export declare const WORKERD_BUNDLE: Pick<BuildOptions, "bundle" | "format" | "platform" | "target" | "conditions" | "mainFields">;
