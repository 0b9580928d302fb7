/**
 * How `make bench` chooses the rates it runs (pure: the runs are the caller's).
 *
 * A run looks for its knee, the highest rate that meets the SLO (p99 and no errors), with short
 * steps: from `start` it doubles while the steps pass, then halves the interval between the last
 * rate that passed and the first that missed (geometrically, rounded to two significant digits)
 * until they are within `precision` of each other. Doubling then bisecting takes about
 * log2(knee / start) + log2(log(factor) / log(precision)) steps — 8 to 10 from 1,000/s to a knee
 * of 20,000/s — where the fixed list of rates it replaces took up to 18 for the same answer and
 * ended on the list's coarse grid. A missed step is run once more (`attempts`) before it counts
 * as missed, because a stall of the machine (10-30 ms pauses that stop every process at once) in
 * a 6 s step can decide its p99; a step with errors counts as missed at once. When even `start`
 * misses by its p99 alone, the next rate up is tried before going down: two stalls in the first
 * two steps otherwise decided the whole run (a switch that held 840/s after 1,000/s missed twice,
 * while later steps at 2,000/s and 4,000/s met the SLO). When that misses too, or `start` had
 * errors, the search goes down (a half, a fifth, a tenth) and bisects above the first that passes.
 *
 * With `capacity`, the search then goes on above the knee, one step per rate, doubling and then
 * bisecting in the same way, to the highest rate answered without errors whatever its p99 (where
 * `make bench` reads PostgreSQL's CPU per approval).
 *
 * The knee is then held for 30 s (holdRates): a 6 s step that passes says little about 30 s, and
 * 30 s at every step would take the whole quarter of an hour on one run.
 */

export interface SearchPlan {
  /** The first rate. */
  start: number;
  /** The highest rate tried. */
  max: number;
  /** Up by this factor while the steps pass. */
  factor: number;
  /** Bisection stops once the rate that missed is within this factor of the one that passed. */
  precision: number;
  /** Runs of a rate that misses only its p99 before it counts as missed. */
  attempts: number;
  /** After the knee, search the highest rate answered without errors (one run per rate). */
  capacity?: { precision: number };
}

export type Phase = 'knee' | 'capacity';

/** One step run: its rate, its phase, whether it met the SLO, whether every message was answered without errors. */
export interface Trial {
  rate: number;
  phase: Phase;
  slo: boolean;
  answered: boolean;
}

/** The next step to run, or undefined when the search is over. */
export function nextStep(trials: readonly Trial[], plan: SearchPlan): { rate: number; phase: Phase } | undefined {
  const knee = kneeSearch(trials, plan);
  if (knee.next !== undefined) return { rate: knee.next, phase: 'knee' };
  if (!plan.capacity) return undefined;
  const cap = capacitySearch(trials, plan, plan.capacity.precision);
  return cap === undefined ? undefined : { rate: cap, phase: 'capacity' };
}

/** The highest rate that met the SLO, once the search is over (or so far). */
export function kneeOf(trials: readonly Trial[], plan: SearchPlan): number | undefined {
  return kneeSearch(trials, plan).lo;
}

/** The highest rate answered without errors whatever its p99, by any step of either phase. */
export function capacityOf(trials: readonly Trial[]): number | undefined {
  return bounds(answeredStatus(trials)).lo;
}

/**
 * The rates to hold after the search: the knee, then 15% lower each time a hold misses
 * (nextHoldRate), `attempts` at most, none under 10/s.
 */
export function holdRates(knee: number | undefined, attempts: number): number[] {
  const out: number[] = [];
  for (let r = knee; r !== undefined && r >= 10 && out.length < attempts; r = nextHoldRate(r)) out.push(r);
  return out;
}

/** `x` rounded to two significant digits (2,828 -> 2,800; 316 -> 320): rates a reader can compare. */
export function roundRate(x: number): number {
  if (!(x > 0)) return 0;
  const unit = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return Math.round(x / unit) * unit;
}

/**
 * The rates tried below `start` when even it misses, so that a slow machine still reports the
 * rate it holds: a half, a fifth and a tenth of it, in that order, none under 10/s.
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

type Status = 'pass' | 'miss' | 'open';

/** Each knee rate's status: passed once, missed (errors, or every attempt), or to be run again. */
function kneeStatus(trials: readonly Trial[], attempts: number): Map<number, Status> {
  const runs = new Map<number, Trial[]>();
  for (const t of trials) if (t.phase === 'knee') runs.set(t.rate, [...(runs.get(t.rate) ?? []), t]);
  const out = new Map<number, Status>();
  for (const [rate, ts] of runs) out.set(rate, ts.some((t) => t.slo) ? 'pass' : ts.some((t) => !t.answered) || ts.length >= attempts ? 'miss' : 'open');
  return out;
}

/** Each rate of either phase: answered without errors in every run, or not. */
function answeredStatus(trials: readonly Trial[]): Map<number, Status> {
  const out = new Map<number, Status>();
  for (const t of trials) if (out.get(t.rate) !== 'miss') out.set(t.rate, t.answered ? 'pass' : 'miss');
  return out;
}

/** The highest rate that passed, and the lowest above it that missed (the lowest of all when none passed). */
function bounds(status: Map<number, Status>): { lo?: number; hi?: number } {
  let lo: number | undefined;
  for (const [r, s] of status) if (s === 'pass' && (lo === undefined || r > lo)) lo = r;
  let hi: number | undefined;
  for (const [r, s] of status) if (s === 'miss' && (lo === undefined || r > lo) && (hi === undefined || r < hi)) hi = r;
  return { lo, hi };
}

/** The next rate between lo and hi, or above lo when nothing missed yet; undefined when close enough. */
function between(lo: number, hi: number | undefined, plan: SearchPlan, precision: number): number | undefined {
  if (hi === undefined) return lo >= plan.max ? undefined : Math.min(plan.max, roundRate(lo * plan.factor));
  if (hi / lo <= precision) return undefined;
  const mid = roundRate(Math.sqrt(lo * hi));
  return mid > lo && mid < hi ? mid : undefined;
}

function kneeSearch(trials: readonly Trial[], plan: SearchPlan): { next?: number; lo?: number } {
  const status = kneeStatus(trials, plan.attempts);
  if (status.size === 0) return { next: plan.start };
  for (const [rate, s] of status) if (s === 'open') return { next: rate };
  const { lo, hi } = bounds(status);
  if (lo === undefined) {
    const up = Math.min(plan.max, roundRate(plan.start * plan.factor));
    const startErred = trials.some((t) => t.phase === 'knee' && t.rate === plan.start && !t.answered);
    if (!startErred && up > plan.start && !status.has(up)) return { next: up };
    return { next: ratesBelow(plan.start).find((r) => !status.has(r) && (hi === undefined || r < hi)) };
  }
  return { next: between(lo, hi, plan, plan.precision), lo };
}

function capacitySearch(trials: readonly Trial[], plan: SearchPlan, precision: number): number | undefined {
  const { lo, hi } = bounds(answeredStatus(trials));
  if (lo === undefined) return undefined;
  const next = between(lo, hi, plan, precision);
  // a rate the knee search ran already answered the question
  return next !== undefined && trials.some((t) => t.rate === next) ? undefined : next;
}
