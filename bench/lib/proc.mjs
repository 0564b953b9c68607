// Every process and server the benchmark starts is registered here and
// stopped on the way out: on success, on failure, on Ctrl-C, on a timeout.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const children = new Set();
const disposers = new Set();
let workDir;

/** A private temporary directory for builds and state, removed at exit. */
export function scratch(name) {
  workDir ??= mkdtempSync(join(tmpdir(), "esr-bench-"));
  return name ? join(workDir, name) : workDir;
}

/** Registers an async cleanup (e.g. Miniflare#dispose); returns a function that runs and unregisters it. */
export function onCleanup(fn) {
  disposers.add(fn);
  return async () => {
    if (disposers.delete(fn)) await fn();
  };
}

/**
 * Spawns a process in its own process group (so its children stop with it),
 * with a hard time limit. Resolves { code, signal, stdout, stderr }.
 */
export function run(cmd, args, { timeoutMs = 120_000, input, env, cwd, allowFail = false } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"], detached: true });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      stderr += `\n[bench] ${cmd} killed after ${timeoutMs} ms`;
      kill(child);
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0 && !allowFail) {
        reject(new Error(`${cmd} ${args.join(" ")} exited with ${code ?? signal}\n${stderr.slice(-2000)}`));
      } else resolve({ code, signal, stdout, stderr });
    });
    if (input !== undefined) child.stdin.end(input);
    else child.stdin.end();
  });
}

/**
 * Spawns a long-running process (a server); stopped by stop() or at exit.
 * Its stdin is a pipe held open (openssl s_server quits on EOF).
 */
export function start(cmd, args, { env, cwd } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"], detached: true });
  children.add(child);
  let output = "";
  // The tail only: a server's log can grow by megabytes under load.
  const keep = (d) => (output = (output + d).slice(-16_384));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("close", () => children.delete(child));
  return {
    child,
    output: () => output,
    stop: () => stop(child),
  };
}

function kill(child, signal = "SIGTERM") {
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the whole group this benchmark started
  } catch {
    try {
      child.kill(signal);
    } catch {}
  }
}

/** Stops one child: SIGTERM, then SIGKILL after 3 s. */
export function stop(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => kill(child, "SIGKILL"), 3000);
    child.once("close", () => {
      clearTimeout(t);
      resolve();
    });
    kill(child);
  });
}

/** Stops everything still running and removes the scratch directory. */
export async function cleanupAll() {
  for (const fn of [...disposers].reverse()) {
    disposers.delete(fn);
    try {
      await Promise.race([fn(), new Promise((r) => setTimeout(r, 10_000))]);
    } catch {}
  }
  await Promise.all([...children].map(stop));
  if (workDir) rmSync(workDir, { recursive: true, force: true });
  workDir = undefined;
}

let installed = false;
/** Makes sure cleanup runs on signals and fatal errors. */
export function installExitHandlers() {
  if (installed) return;
  installed = true;
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
    process.on(sig, async () => {
      console.error(`\n[bench] ${sig}: stopping everything this benchmark started`);
      await cleanupAll();
      process.exit(130);
    });
  }
  process.on("exit", () => {
    // Last resort (synchronous): kill any child group still alive.
    for (const child of children) kill(child, "SIGKILL");
  });
}

/** Rejects after ms unless the promise settles first. */
export function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
