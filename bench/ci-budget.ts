/**
 * The CI performance check's judgement (pure; bench/ci-check.ts measures): the switch's CPU per
 * answer against the ceiling server's (the same TCP server and codec answering at once, no cache,
 * no ledger), both at the same rate with the same simulator in the same CI run, so that the
 * machine's speed cancels out of the ratio; the ratio against the budget committed in
 * bench/ci-budget.json, with its margin for the noise of the machine.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { median } from './summary.js';
import { MAX_STEAL_SHARE, stealDisturbed } from './probes/cpu-budget.js';

export const budgetSchema = z.object({
  /** switch CPU per answer / ceiling CPU per answer that a change may reach. */
  cpuRatioBudget: z.number().positive(),
  /** The check fails above cpuRatioBudget x (1 + margin). */
  margin: z.number().min(0).max(2),
  how: z.string().optional(),
});
export type Budget = z.infer<typeof budgetSchema>;

/** bench/ci-budget.json in the repository (next to this file's source, whichever directory runs it). */
export function readBudget(url = new URL('../../bench/ci-budget.json', import.meta.url)): Budget {
  return budgetSchema.parse(JSON.parse(readFileSync(url, 'utf8')));
}

/**
 * One round: a load on the ceiling and one on the switch, back to back, CPU per answer of each,
 * and the host's steal during each load, per answer (bench/probes/cpu-budget.ts `stolenUs`).
 */
export interface Round {
  switchUs: number;
  ceilingUs: number;
  switchStolenUs?: number;
  ceilingStolenUs?: number;
}

/**
 * Whether the host's steal during either load exceeded MAX_STEAL_SHARE of that load's CPU per
 * answer (bench/probes/cpu-budget.ts `stealDisturbed`). Such a round is measured again, and left
 * out of the verdict while others are not: steal raises the ceiling's figure more than the
 * switch's, so the ratio reads low and a regression would pass. In four runs on one host
 * (docs/benchmarks.md, "Host steal"), rounds whose ceiling load had up to a tenth of its cost in
 * steal gave 2.90-3.60, those with a third or more 1.97-2.81, on the same code.
 */
export function disturbed(r: Round): boolean {
  return stealDisturbed(r.switchUs, r.switchStolenUs) || stealDisturbed(r.ceilingUs, r.ceilingStolenUs);
}

export interface Verdict {
  /** The median over the rounds of switch / ceiling. */
  ratio: number;
  switchUs: number;
  ceilingUs: number;
  bound: number;
  ok: boolean;
  /** The rounds the ratio is the median of. */
  used: number;
  /** Rounds left out as disturbed (a steal over MAX_STEAL_SHARE). */
  leftOut: number;
  /** Every round was disturbed: the verdict is theirs, and the ratio may read low. */
  allDisturbed: boolean;
}

/**
 * The median of each round's ratio, so that one round disturbed by the machine (a stall, a
 * neighbour's burst in one of its two loads) does not decide; the two figures printed are the
 * medians of each side. Rounds the host's steal disturbed are left out while at least one is
 * not; when all are, they decide, and the verdict says so.
 */
export function judge(rounds: readonly Round[], budget: Budget): Verdict | undefined {
  const valid = rounds.filter((r) => r.switchUs > 0 && r.ceilingUs > 0);
  if (valid.length === 0) return undefined;
  const clean = valid.filter((r) => !disturbed(r));
  const used = clean.length > 0 ? clean : valid;
  const ratio = median(used.map((r) => r.switchUs / r.ceilingUs)) as number;
  const bound = budget.cpuRatioBudget * (1 + budget.margin);
  return {
    ratio,
    switchUs: median(used.map((r) => r.switchUs)) as number,
    ceilingUs: median(used.map((r) => r.ceilingUs)) as number,
    bound,
    ok: ratio <= bound,
    used: used.length,
    leftOut: valid.length - used.length,
    allDisturbed: clean.length === 0,
  };
}

/**
 * After `ran` rounds (overloaded ones included) whose measured rounds are `rounds`: 'done', or
 * another round, because fewer than `want` were left alone by the host's steal ('few'), or
 * because `want` of them are over the bound, which one more such round confirms ('over'); never
 * past `max` rounds.
 */
export function nextRound(rounds: readonly Round[], budget: Budget, want: number, ran: number, max: number): 'done' | 'few' | 'over' {
  if (ran >= max) return 'done';
  const clean = rounds.filter((r) => !disturbed(r)).length;
  if (clean < want) return 'few';
  if (judge(rounds, budget)?.ok || clean > want) return 'done';
  return 'over';
}

/** "CPU ratio switch/ceiling 6.12 (switch 401 µs, ceiling 65.5 µs per answer): budget 6.5, margin 25%, bound 8.13: ok" */
export function describeVerdict(v: Verdict, budget: Budget): string {
  const steal = v.allDisturbed
    ? ` (every round disturbed by the host's steal: the ratio may read low)`
    : v.leftOut > 0
      ? ` (${v.leftOut} round${v.leftOut === 1 ? '' : 's'} disturbed by the host's steal left out)`
      : '';
  return `CPU ratio switch/ceiling ${v.ratio.toFixed(2)} (switch ${v.switchUs.toFixed(0)} µs, ceiling ${v.ceilingUs.toFixed(1)} µs per answer): budget ${budget.cpuRatioBudget}, margin ${Math.round(budget.margin * 100)}%, bound ${v.bound.toFixed(2)}: ${v.ok ? 'ok' : 'OVER BUDGET'}${steal}`;
}

/** "round 3: the host's steal took 31% of the ceiling's CPU per answer (over 20%): disturbed" */
export function describeDisturbed(round: number, r: Round): string {
  const sw = (r.switchStolenUs ?? 0) / r.switchUs;
  const ce = (r.ceilingStolenUs ?? 0) / r.ceilingUs;
  const [which, share] = sw >= ce ? ['switch', sw] : ['ceiling', ce];
  return `round ${round}: the host's steal took ${Math.round(share * 100)}% of the ${which}'s CPU per answer (over ${Math.round(MAX_STEAL_SHARE * 100)}%): disturbed`;
}
