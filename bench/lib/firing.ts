/** Turn the provider's records into the precision figures: counts and lateness. */
import { percentiles, round, type Percentiles } from './stats.ts';
import type { Grid } from './seed.ts';

/** One request as the provider saw it, mapped to its (job, slot). */
export interface Observed {
  job: number;
  slot: number;
  /** Provider receive time, epoch ms. */
  t: number;
}

interface FiringCounts {
  /** Slots of the grid in [t0, t0 + D). */
  expected: number;
  /** Requests the provider received for the run. */
  received: number;
  /** Expected slots that reached the provider at least once. */
  fired: number;
  missed: number;
  /** Requests beyond the first for the same (job, slot). */
  duplicates: number;
  /** Requests received before their slot's time. */
  early: number;
  /** Requests for a (job, slot) that is not on the grid or not in the window. */
  unexpected: number;
  /** Requests that could not be mapped to a slot at all. */
  unmapped: number;
}

export interface FiringAnalysis extends FiringCounts {
  /** provider receive − slot, ms, over slots after the warm-up (first receipt of each). */
  lateness_ms: Percentiles;
  lateness_samples: number;
  /** Largest lateness over every slot, warm-up included. */
  max_all_ms: number | null;
}

export function analyze(grid: Grid, expected: number[][], observed: Observed[], unmapped: number, warmupMs: number): FiringAnalysis {
  const expectedKeys = new Set<string>();
  for (let i = 0; i < expected.length; i++) for (const s of expected[i]!) expectedKeys.add(`${i}:${s}`);
  const first = new Map<string, Observed>();
  let duplicates = 0;
  let early = 0;
  let unexpected = 0;
  for (const o of observed) {
    const key = `${o.job}:${o.slot}`;
    if (o.t < o.slot) early += 1;
    if (!expectedKeys.has(key)) {
      unexpected += 1;
      continue;
    }
    const seen = first.get(key);
    if (seen) {
      duplicates += 1;
      if (o.t < seen.t) first.set(key, o);
    } else {
      first.set(key, o);
    }
  }
  const windowStart = grid.t0Ms + warmupMs;
  const late: number[] = [];
  let maxAll: number | null = null;
  for (const o of first.values()) {
    const l = o.t - o.slot;
    if (maxAll === null || l > maxAll) maxAll = l;
    if (o.slot >= windowStart) late.push(l);
  }
  const p = percentiles(late);
  return {
    expected: expectedKeys.size,
    received: observed.length + unmapped,
    fired: first.size,
    missed: expectedKeys.size - first.size,
    duplicates,
    early,
    unexpected,
    unmapped,
    lateness_ms: { p50: round(p.p50, 3), p90: round(p.p90, 3), p99: round(p.p99, 3), p99_9: round(p.p99_9, 3), max: round(p.max, 3) },
    lateness_samples: late.length,
    max_all_ms: round(maxAll, 3),
  };
}
