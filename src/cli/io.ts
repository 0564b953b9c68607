/**
 * Everything a command touches outside itself: output streams, the
 * environment, stdin and the terminal. Commands take an Io, so a test can
 * run them in-process with its own (test/node/cli.test.ts runs the real one
 * as a child process too).
 */
import { createInterface } from "node:readline";
import type { FetchLike } from "../client/index.js";
import { CliError } from "./errors.js";

export interface Io {
  /** Writes a line to stdout. */
  out: (text: string) => void;
  /** Writes a line to stderr. */
  err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** A person at a terminal (stdin and stderr are TTYs): prompts are possible. */
  readonly interactive: boolean;
  /** All of stdin, when it is not a terminal. */
  readStdin(): Promise<string>;
  /** Asks on stderr, reads one line from the terminal; `echo: false` does not show what is typed. */
  ask(question: string, options?: { echo?: boolean }): Promise<string>;
  /** The fetch the client uses (default: the global one). */
  readonly fetch?: FetchLike;
}

const MAX_STDIN = 1 << 20;

export function nodeIo(): Io {
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  return {
    out: (text) => void process.stdout.write(`${text}\n`),
    err: (text) => void process.stderr.write(`${text}\n`),
    env: process.env,
    interactive,
    readStdin: () => readAll(process.stdin),
    ask: (question, options = {}) => (options.echo === false && process.stdin.isTTY ? askHidden(question) : askLine(question)),
  };
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = "";
  stream.setEncoding("utf8");
  for await (const chunk of stream) {
    text += chunk as string;
    if (text.length > MAX_STDIN) throw new CliError("invalid_input", "more than 1 MiB on stdin");
  }
  return text;
}

function askLine(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY === true });
  return new Promise((resolve) => {
    let answered = false;
    rl.question(question, (answer) => {
      answered = true;
      rl.close();
      resolve(answer);
    });
    // Ctrl-D or a closed stdin: no answer.
    rl.once("close", () => {
      if (!answered) resolve("");
    });
  });
}

/** Raw mode: characters are read one by one and never echoed (a token typed or pasted at the prompt). */
function askHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let answer = "";
    const finish = (error?: CliError) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(answer);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n" || ch === "\u0004") return finish();
        if (ch === "\u0003") return finish(new CliError("aborted", "interrupted"));
        if (ch === "\u007f" || ch === "\b") answer = answer.slice(0, -1);
        else answer += ch;
      }
    };
    stdin.setEncoding("utf8");
    stdin.setRawMode(true);
    stdin.on("data", onData);
    stdin.resume();
  });
}

/** [y/N]: only y or yes (any case) is a yes. */
export async function confirm(io: Io, question: string): Promise<boolean> {
  const answer = await io.ask(`${question} [y/N] `);
  return /^\s*y(es)?\s*$/i.test(answer);
}
