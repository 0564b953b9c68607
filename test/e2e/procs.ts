/**
 * Child processes for the e2e tests, each in its own process group so that
 * stopping it stops everything it started (nginx's workers, npx's children).
 * Every process started here is tracked: stopAll() (afterAll) ends them, and
 * an exit hook kills whatever a crashed run left behind. Also: free ports and
 * temp dirs.
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Proc {
  child: ChildProcess;
  name: string;
  /** Everything written to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Resolves with the first stdout line that matches, rejects if the process exits first or after timeoutMs. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

const running = new Set<Proc>();

process.once("exit", () => {
  // Last resort (a crashed test file): synchronous kills only.
  for (const p of running) killGroup(p.child, "SIGKILL");
});

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

export function start(name: string, command: string, args: readonly string[], options: SpawnOptions = {}): Proc {
  const child = spawn(command, args, { ...options, detached: true, stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => {
    out += d;
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const waiters = new Set<() => void>();
  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(proc);
      for (const w of waiters) w();
      resolve(code ?? signal ?? "unknown");
    });
    child.once("error", (e) => {
      err += `\nspawn error: ${e.message}`;
      running.delete(proc);
      for (const w of waiters) w();
      resolve("spawn-error");
    });
  });
  const proc: Proc = {
    child,
    name,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (const line of out.split("\n")) {
            const m = line.match(pattern);
            if (m) return finish(() => resolve(m));
          }
          if (child.exitCode !== null || child.signalCode !== null || !running.has(proc)) {
            finish(() => reject(new Error(`${name} exited before printing ${pattern}\nstdout: ${out}\nstderr: ${err}`)));
          }
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`${name}: no line matching ${pattern} within ${timeoutMs} ms\nstdout: ${out}\nstderr: ${err}`))), timeoutMs);
        const finish = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (!running.has(proc)) return;
      killGroup(child, "SIGTERM");
      const killed = await Promise.race([exited.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 3000))]);
      if (!killed) {
        killGroup(child, "SIGKILL");
        await exited;
      }
      // The group may outlive its leader (e.g. nginx workers): make sure it is gone.
      killGroup(child, "SIGKILL");
    },
  };
  running.add(proc);
  return proc;
}

/** Stops every process this file started that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
}

/** Runs a command to completion (killed after timeoutMs), with the given stdin. */
export async function run(
  name: string,
  command: string,
  args: readonly string[],
  options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const p = start(name, command, args, { env: options.env ?? process.env, cwd: options.cwd });
  p.child.stdin!.on("error", () => {});
  p.child.stdin!.end(options.input ?? "");
  const timeout = setTimeout(() => void p.stop(), options.timeoutMs ?? 15_000);
  try {
    const code = await p.exited;
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  } finally {
    clearTimeout(timeout);
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1 (callers retry if they lose the race). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A temp dir, removed by the returned function. */
export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `esr-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
