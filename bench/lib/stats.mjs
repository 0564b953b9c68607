// Summaries: every figure is the median of the runs, with their min and max.

export function median(xs) {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** { median, min, max, n, values } of the runs' values. */
export function summary(values) {
  const v = values.filter((x) => Number.isFinite(x));
  return { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length, values: v };
}

/** "12.3 (11.9–13.0)" with a fixed number of significant digits. */
export function fmt(s, digits = 3) {
  if (!s || !Number.isFinite(s.median)) return "n/a";
  if (s.n === 1) return num(s.median, digits);
  return `${num(s.median, digits)} (${num(s.min, digits)}–${num(s.max, digits)})`;
}

export function num(x, digits = 3) {
  if (!Number.isFinite(x)) return "n/a";
  const a = Math.abs(x);
  if (a >= 10 ** digits) return Math.round(x).toLocaleString("en-US");
  if (a === 0) return "0";
  return Number(x.toPrecision(digits)).toString();
}

/**
 * One run's ratio of two candidates: the median, over the run's rounds, of
 * num ÷ den measured in the same round (adjacent requests). Pairing by round
 * cancels whatever the machine did to both in that round, which the ratio
 * of the two medians does not. Runs recorded before rounds were kept fall
 * back to the ratio of the medians.
 */
export function pairedRatio(run, num, den) {
  const a = run.rounds?.[num];
  const b = run.rounds?.[den];
  if (!a || !b || a.length !== b.length) return run[num] / run[den];
  return median(a.map((x, i) => x / b[i]));
}
