/** Small statistics shared by the benchmarks. */

/** Nearest-rank percentile of values sorted ascending (0 for none). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

/** p50, p99, p99.9 and max of timings in ms (any order), each rounded to the µs. */
export function percentilesMs(values: readonly number[]): { p50Ms: number; p99Ms: number; p99_9Ms: number; maxMs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (ms: number): number => Math.round(ms * 1000) / 1000;
  return {
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    p99_9Ms: round(percentile(sorted, 99.9)),
    maxMs: round(sorted[sorted.length - 1] ?? 0),
  };
}

/**
 * A batch's cost as fixed + perItem × items, fitted by least squares to (items, cost of a
 * batch) points, e.g. PostgreSQL CPU per batch at several batch sizes. Undefined with fewer
 * than two distinct sizes.
 */
export function fitPerBatch(points: readonly { items: number; cost: number }[]): { fixed: number; perItem: number } | undefined {
  const n = points.length;
  if (n < 2) return undefined;
  let sx = 0;
  let sy = 0;
  for (const p of points) {
    sx += p.items;
    sy += p.cost;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.items - mx) ** 2;
    sxy += (p.items - mx) * (p.cost - my);
  }
  if (sxx === 0) return undefined;
  const perItem = sxy / sxx;
  return { fixed: my - perItem * mx, perItem };
}
