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

/** One round: a load on the ceiling and one on the switch, back to back, CPU per answer of each. */
export interface Round {
  switchUs: number;
  ceilingUs: number;
}

export interface Verdict {
  /** The median over the rounds of switch / ceiling. */
  ratio: number;
  switchUs: number;
  ceilingUs: number;
  bound: number;
  ok: boolean;
}

/**
 * The median of each round's ratio, so that one round disturbed by the machine (a stall, a
 * neighbour's burst in one of its two loads) does not decide; the two figures printed are the
 * medians of each side.
 */
export function judge(rounds: readonly Round[], budget: Budget): Verdict | undefined {
  const valid = rounds.filter((r) => r.switchUs > 0 && r.ceilingUs > 0);
  if (valid.length === 0) return undefined;
  const ratio = median(valid.map((r) => r.switchUs / r.ceilingUs)) as number;
  const bound = budget.cpuRatioBudget * (1 + budget.margin);
  return { ratio, switchUs: median(valid.map((r) => r.switchUs)) as number, ceilingUs: median(valid.map((r) => r.ceilingUs)) as number, bound, ok: ratio <= bound };
}

/** "CPU ratio switch/ceiling 6.12 (switch 401 µs, ceiling 65.5 µs per answer): budget 6.5, margin 25%, bound 8.13: ok" */
export function describeVerdict(v: Verdict, budget: Budget): string {
  return `CPU ratio switch/ceiling ${v.ratio.toFixed(2)} (switch ${v.switchUs.toFixed(0)} µs, ceiling ${v.ceilingUs.toFixed(1)} µs per answer): budget ${budget.cpuRatioBudget}, margin ${Math.round(budget.margin * 100)}%, bound ${v.bound.toFixed(2)}: ${v.ok ? 'ok' : 'OVER BUDGET'}`;
}
