/** The rates `make bench` tries besides BENCH_RATES: below it on a slow machine, and for its holds. */

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

/**
 * The next rate to hold for 30 s after a hold missed: 15% lower, rounded down to a hundred from
 * 1,000/s up and to ten below (so that 100/s is followed by 80/s, not by 0).
 */
export function nextHoldRate(rate: number): number {
  const r = Math.floor(rate * 0.85);
  return r >= 1000 ? Math.floor(r / 100) * 100 : Math.floor(r / 10) * 10;
}
