/**
 * The rates `make bench` tries below its lowest (BENCH_RATES' first) when a run misses even that
 * one, so that a slow machine still reports the rate it holds: a half, a fifth and a tenth of it,
 * in that order, none under 10/s.
 */
export function ratesBelow(lowest: number): number[] {
  const out: number[] = [];
  for (const d of [2, 5, 10]) {
    const r = Math.round(lowest / d);
    if (r >= 10 && r < lowest && !out.includes(r)) out.push(r);
  }
  return out;
}
