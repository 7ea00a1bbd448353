/** Small statistics helpers: nearest-rank percentiles and medians. */

export interface Percentiles {
  p50: number | null;
  p90: number | null;
  p99: number | null;
  p99_9: number | null;
  max: number | null;
}

/** Nearest-rank percentile of an ascending-sorted sample; null for an empty one. */
function rank(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function percentiles(sample: Iterable<number>): Percentiles {
  const sorted = Float64Array.from(sample).sort();
  return {
    p50: rank(sorted, 0.5),
    p90: rank(sorted, 0.9),
    p99: rank(sorted, 0.99),
    p99_9: rank(sorted, 0.999),
    max: sorted.length ? sorted[sorted.length - 1]! : null,
  };
}

/** Median of the non-null numbers; null when there are none. With an even count, the mean of the middle two. */
export function median(values: readonly (number | null | undefined)[]): number | null {
  const xs = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return null;
  const mid = xs.length >> 1;
  return xs.length % 2 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/** Round to `digits` decimals, keeping null. */
export function round(x: number | null | undefined, digits = 2): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/**
 * Median of each numeric leaf across several results of the same shape (for `--runs`).
 * Non-numeric leaves come from the first result.
 */
export function medianOf<T>(results: readonly T[]): T {
  const first = results[0];
  if (results.length <= 1 || first === null || typeof first !== 'object') return first as T;
  const out: Record<string, unknown> = Array.isArray(first) ? ([] as unknown as Record<string, unknown>) : {};
  for (const key of Object.keys(first as object)) {
    const values = results.map((r) => (r as Record<string, unknown>)[key]);
    const v0 = values[0];
    if (typeof v0 === 'number' || (v0 === null && values.some((v) => typeof v === 'number'))) {
      out[key] = median(values as (number | null)[]);
    } else if (v0 !== null && typeof v0 === 'object' && !Array.isArray(v0)) {
      out[key] = medianOf(values);
    } else {
      out[key] = v0;
    }
  }
  return out as T;
}
