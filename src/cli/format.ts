/**
 * Output for people: ISO times with a relative part measured against the
 * service's own clock (its `now`, so a skewed local clock does not lie),
 * durations, aligned tables. Machine output is `--json`: the API's own JSON.
 */

/** Unix seconds as ISO 8601 UTC without milliseconds: 2026-05-01T10:00:00Z. */
export function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.000Z$/, "Z");
}

/** A duration in seconds, two units at most: 45s, 9m 58s, 2h 5m, 3d 4h. */
export function duration(seconds: number): string {
  let s = Math.round(Math.abs(seconds));
  const units: [string, number][] = [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ];
  const parts: string[] = [];
  for (const [unit, size] of units) {
    if (s >= size || (unit === "s" && parts.length === 0)) {
      parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
    if (parts.length === 2) break;
  }
  // "2h 0m" reads worse than "2h".
  return parts.filter((p, i) => i === 0 || !/^0/.test(p)).join(" ");
}

/** "in 9m 58s", "12m ago", "now". */
export function relative(seconds: number, now: number): string {
  const d = seconds - now;
  if (d === 0) return "now";
  return d > 0 ? `in ${duration(d)}` : `${duration(d)} ago`;
}

/** "2026-05-01T10:00:00Z (in 9m 58s)". */
export function when(seconds: number, now: number): string {
  return `${iso(seconds)} (${relative(seconds, now)})`;
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? "").length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ").trimEnd()).join("\n");
}

/** `name  value` lines, aligned. */
export function fields(pairs: readonly (readonly [string, string])[], indent = ""): string {
  const width = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${indent}${k.padEnd(width)}  ${v}`).join("\n");
}

/** Replaces each secret in a text that is about to be printed (defence in depth: no message should hold one). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 8) out = out.split(s).join("[redacted]");
  return out;
}
