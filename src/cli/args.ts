/**
 * Command-line parsing without dependencies: `--name value`, `--name=value`,
 * `-n value`, boolean `--flag`, `--` to end options; options may come before
 * or after the command words. Unknown options are errors, not ignored.
 */
import { UsageError } from "./errors.js";

export interface OptionSpec {
  type: "string" | "boolean";
  /** One letter: `-h`. */
  short?: string;
  /** What the value is, for the usage text: `--out DIR`. */
  value?: string;
  description: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  /** Option name → its value (the last one given); booleans are true when present. */
  values: Record<string, string | true | undefined>;
  positionals: string[];
}

export function parseArgs(argv: readonly string[], specs: OptionSpecs): Parsed {
  const values: Parsed["values"] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(specs).flatMap(([name, s]) => (s.short ? [[s.short, name] as const] : [])));
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith("--") && arg.length > 2) {
      const eq = arg.indexOf("=");
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
      if (!Object.prototype.hasOwnProperty.call(specs, name)) throw new UsageError(`unknown option --${name}`);
    } else if (/^-[A-Za-z]$/.test(arg)) {
      name = byShort.get(arg.slice(1));
      if (name === undefined) throw new UsageError(`unknown option ${arg}`);
    } else {
      positionals.push(arg);
      continue;
    }
    const spec = specs[name]!;
    if (spec.type === "boolean") {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      // "--out --json" is a forgotten value, not a directory named --json.
      if (next === undefined || (next.startsWith("-") && next.length > 1 && !/^-[0-9]/.test(next))) {
        throw new UsageError(`--${name} needs a value${spec.value ? ` (${spec.value})` : ""}`);
      }
      value = next;
      i++;
    }
    values[name] = value;
  }
  return { values, positionals };
}

/** `--name VALUE` lines for the usage text, aligned. */
export function describeOptions(specs: OptionSpecs): string[] {
  const heads = Object.entries(specs).map(([name, s]) => {
    const flag = `${s.short ? `-${s.short}, ` : ""}--${name}${s.type === "string" ? ` ${s.value ?? "VALUE"}` : ""}`;
    return [flag, s.description] as const;
  });
  const width = Math.max(0, ...heads.map(([flag]) => flag.length));
  return heads.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`);
}

/** A string option's value, or undefined; a boolean given where a string is expected cannot happen (the parser refuses it). */
export function stringOption(parsed: Parsed, name: string): string | undefined {
  const v = parsed.values[name];
  return typeof v === "string" ? v : undefined;
}

export function flag(parsed: Parsed, name: string): boolean {
  return parsed.values[name] === true;
}
