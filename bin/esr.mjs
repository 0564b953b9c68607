#!/usr/bin/env node
/**
 * The `esr` command (package.json "bin"; README.md#cli).
 *
 * The CLI is TypeScript (src/cli) and Node 20 cannot run TypeScript, so this
 * launcher bundles src/cli/main.ts with esbuild (already installed: wrangler
 * and the tests use it) into node_modules/.cache/esr/ on first use, and again
 * whenever a source changed, then imports the bundle. The bundle is keyed by
 * the SHA-256 of every file esbuild read for it (its metafile) and of this
 * launcher, checked on every run (about a millisecond): a `git pull` or an
 * edit is picked up without a build step, and a stale bundle is never run.
 * Nothing generated is committed and nothing runs at install time (no
 * `prepare` script), so `npm ci` is unchanged. Where node_modules is not
 * writable the bundle is built in memory each run.
 *
 * For a host without this repository: `npm run build:cli` writes dist/esr.mjs,
 * one file that needs only Node 20.
 *
 * scripts/token.mjs imports runCli from here.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const ENTRY = "src/cli/main.ts";
const CACHE_DIR = join(ROOT, "node_modules", ".cache", "esr");
const MANIFEST = join(CACHE_DIR, "manifest.json");
/** Bump when the build options below change. */
const BUILD_FORMAT = 1;

const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

/** The cached bundle, when every input it was built from (and this launcher) is unchanged. */
function cachedBundle() {
  try {
    const manifest = JSON.parse(readFileSync(MANIFEST, "utf8"));
    if (manifest.format !== BUILD_FORMAT || manifest.launcher !== sha256(SELF)) return undefined;
    for (const [path, hash] of Object.entries(manifest.inputs)) if (sha256(join(ROOT, path)) !== hash) return undefined;
    const bundle = join(CACHE_DIR, manifest.bundle);
    statSync(bundle);
    return bundle;
  } catch {
    return undefined; // no cache yet, a source removed, a manifest half-written by an older version…
  }
}

function fail(message) {
  process.stderr.write(`esr: ${message}\n`);
  process.exit(2);
}

async function build() {
  let esbuild;
  try {
    esbuild = await import("esbuild");
  } catch {
    fail(`cannot build the CLI: esbuild is not installed (run npm ci in ${ROOT}), or use the standalone build: npm run build:cli, then node dist/esr.mjs`);
  }
  let result;
  try {
    result = await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: [ENTRY],
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      write: false,
      metafile: true,
      logLevel: "silent",
    });
  } catch (e) {
    fail(`cannot build the CLI from ${ENTRY}:\n${e.message}`);
  }
  const text = result.outputFiles[0].text;
  const inputs = Object.fromEntries(Object.keys(result.metafile.inputs).map((path) => [path, sha256(join(ROOT, path))]));
  return { text, inputs };
}

/** Writes the bundle and then its manifest (each temp + rename: concurrent first runs are safe); undefined if the cache is not writable. */
function store({ text, inputs }) {
  try {
    mkdirSync(CACHE_DIR, { recursive: true });
    const name = `cli-${createHash("sha256").update(text).digest("hex").slice(0, 16)}.mjs`;
    const bundle = join(CACHE_DIR, name);
    const write = (path, content) => {
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, content);
      renameSync(tmp, path);
    };
    write(bundle, text);
    write(MANIFEST, JSON.stringify({ format: BUILD_FORMAT, launcher: sha256(SELF), bundle: name, inputs }, null, 2));
    // Old bundles: removed once they are an hour old (a concurrent run may still be importing a recent one).
    for (const f of readdirSync(CACHE_DIR)) {
      if (f !== name && /^cli-[0-9a-f]{16}\.mjs$/.test(f)) {
        const path = join(CACHE_DIR, f);
        if (Date.now() - statSync(path).mtimeMs > 3_600_000) unlinkSync(path);
      }
    }
    return bundle;
  } catch {
    return undefined;
  }
}

async function loadCli() {
  const bundle = cachedBundle();
  if (bundle) return import(pathToFileURL(bundle).href);
  const built = await build();
  const stored = store(built);
  if (stored) return import(pathToFileURL(stored).href);
  // A read-only tree: the bundle imports only node: built-ins, which a data: URL module may.
  return import(`data:text/javascript;base64,${Buffer.from(built.text).toString("base64")}`);
}

/** Runs the CLI with these arguments; resolves with the exit code (also set as process.exitCode). */
export async function runCli(argv) {
  const cli = await loadCli();
  return cli.run(argv);
}

const invokedAs = process.argv[1];
if (invokedAs && realpathSync(invokedAs) === realpathSync(SELF)) {
  await runCli(process.argv.slice(2));
}


