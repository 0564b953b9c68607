/**
 * From a few dozen simulated isolates to a fleet of 1k, 10k or 100k.
 *
 * Load on one Durable Object comes from two kinds of sources: each isolate
 * on its own (today's ring reader: every isolate fetches the ring), and each
 * location as a whole (a shared per-location tier: one miss per location,
 * whatever its isolates). The simulated locations have different numbers of
 * isolates on purpose, so the two can be told apart: the requests from each
 * location are fitted as
 *
 *     requests(location) = per_location + per_isolate × isolates(location)
 *
 * (least squares, neither term negative), and a fleet of N isolates over L
 * locations is extrapolated as per_location × L + per_isolate × N, with L the
 * platform's locations (330 by default) or N if fewer. Load that comes from
 * neither (a constant, such as a few regional mirrors) is attributed to
 * locations and so overestimated: the fit errs on the side of more load.
 * A fit on few calls is noisy in its mix as well: fit on the most calls that
 * share a cause (scaleLoad's mixFrom).
 */

export const FLEET_SIZES = [1_000, 10_000, 100_000] as const;

/** Cloudflare's network: about 330 cities. */
export const PLATFORM_LOCATIONS = 330;

export interface LoadFit {
  perLocation: number;
  perIsolate: number;
}

export function fitLoad(points: readonly { isolates: number; count: number }[]): LoadFit {
  const n = points.length;
  if (n === 0) return { perLocation: 0, perIsolate: 0 };
  const meanI = points.reduce((s, p) => s + p.isolates, 0) / n;
  const meanC = points.reduce((s, p) => s + p.count, 0) / n;
  let cov = 0;
  let varI = 0;
  for (const p of points) {
    cov += (p.isolates - meanI) * (p.count - meanC);
    varI += (p.isolates - meanI) ** 2;
  }
  let perIsolate = varI > 0 ? cov / varI : 0;
  let perLocation = meanC - perIsolate * meanI;
  if (perLocation < 0) {
    // Through the origin: all of it per isolate.
    perLocation = 0;
    const sumII = points.reduce((s, p) => s + p.isolates * p.isolates, 0);
    perIsolate = sumII > 0 ? points.reduce((s, p) => s + p.isolates * p.count, 0) / sumII : 0;
  }
  if (perIsolate < 0) {
    perIsolate = 0;
    perLocation = meanC;
  }
  return { perLocation, perIsolate };
}

export function extrapolate(fit: LoadFit, isolates: number, platformLocations = PLATFORM_LOCATIONS): number {
  return fit.perLocation * Math.min(platformLocations, isolates) + fit.perIsolate * isolates;
}

export interface ScaledLoad {
  fit: LoadFit;
  /** Requests per second over the whole measured time, at each fleet size. */
  mean_rps: Record<string, number>;
  /** The busiest second, at each fleet size. */
  peak_rps: Record<string, number>;
  /** Virtual seconds into the measured time of the busiest second. */
  peak_second: number | undefined;
}

/** Seconds either side of a second that its neighbourhood spans. */
const NEIGHBOURHOOD_S = 4;

/**
 * The expected calls in each measured second, from the observed ones. A few
 * dozen isolates make a noisy sample: a second in which three of them
 * happened to refresh says nothing about 100k isolates, which would average
 * out. So each second is estimated by the mean of its neighbourhood (±4 s),
 * unless the isolates evidently acted together in it: at least half of them
 * called (`together`), or it stands out of its neighbourhood's Poisson noise
 * (more than mean + 3·√mean + 1). Then it is a burst (a deploy, a revoke)
 * and counts as observed.
 */
export function expectedPerSecond(counts: readonly number[], together: readonly boolean[] = []): number[] {
  return counts.map((k, w) => {
    let sum = 0;
    let n = 0;
    for (let j = Math.max(0, w - NEIGHBOURHOOD_S); j <= Math.min(counts.length - 1, w + NEIGHBOURHOOD_S); j++) {
      sum += counts[j]!;
      n++;
    }
    const mean = sum / n;
    return together[w] || k > mean + 3 * Math.sqrt(mean) + 1 ? k : mean;
  });
}

type Call = { t: number; location: string; isolate: number };

/**
 * Scales the calls to one target (timestamps in virtual ms, each with its
 * caller's location and isolate) to fleet sizes. `isolatesPer` gives each
 * location's isolate count; `spans` the measured stretches of virtual time.
 *
 * The mix of per-isolate and per-location load is fitted on `mixFrom` (the
 * calls themselves unless given: one replay shard's few calls say little,
 * all shards' calls say it well). The mean is the observed rate scaled by
 * that mix; the peak is the busiest expected second (expectedPerSecond),
 * scaled the same way.
 */
export function scaleLoad(
  calls: readonly Call[],
  isolatesPer: ReadonlyMap<string, number>,
  spans: readonly { from: number; to: number }[],
  options: { mixFrom?: readonly Call[]; platformLocations?: number } = {},
): ScaledLoad {
  const platformLocations = options.platformLocations ?? PLATFORM_LOCATIONS;
  const locations = [...isolatesPer.keys()];
  const simulatedIsolates = [...isolatesPer.values()].reduce((a, b) => a + b, 0);
  const seconds = spans.reduce((s, p) => s + (p.to - p.from) / 1000, 0);
  const totals = new Map(locations.map((l) => [l, 0]));
  for (const c of options.mixFrom ?? calls) totals.set(c.location, (totals.get(c.location) ?? 0) + 1);
  const fit = fitLoad(locations.map((l) => ({ isolates: isolatesPer.get(l)!, count: (totals.get(l) ?? 0) / Math.max(seconds, 1e-9) })));
  const fromIsolates = fit.perIsolate * simulatedIsolates;
  const fromLocations = fit.perLocation * locations.length;
  const isolateShare = fromIsolates + fromLocations > 0 ? fromIsolates / (fromIsolates + fromLocations) : 1;
  const factor = (size: number) => isolateShare * (size / simulatedIsolates) + (1 - isolateShare) * (Math.min(platformLocations, size) / locations.length);

  // Expected calls per measured second, span by span (the seconds between spans were not measured).
  let busiest = 0;
  let busiestSecond: number | undefined;
  let offset = 0;
  for (const span of spans) {
    const n = Math.max(1, Math.ceil((span.to - span.from) / 1000));
    const counts = new Array<number>(n).fill(0);
    const callers = Array.from({ length: n }, () => new Set<number>());
    for (const c of calls) {
      if (c.t < span.from || c.t >= span.to) continue;
      const w = Math.min(n - 1, Math.floor((c.t - span.from) / 1000));
      counts[w]!++;
      callers[w]!.add(c.isolate);
    }
    const together = callers.map((set) => set.size >= simulatedIsolates / 2);
    expectedPerSecond(counts, together).forEach((e, w) => {
      if (e > busiest) {
        busiest = e;
        busiestSecond = offset + w;
      }
    });
    offset += n;
  }
  const rate = calls.length / Math.max(seconds, 1e-9);
  const mean_rps: Record<string, number> = {};
  const peak_rps: Record<string, number> = {};
  for (const size of FLEET_SIZES) {
    mean_rps[size] = rate * factor(size);
    peak_rps[size] = busiest * factor(size);
  }
  return { fit, mean_rps, peak_rps, peak_second: busiestSecond };
}
