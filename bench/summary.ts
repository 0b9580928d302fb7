/**
 * The figures `make bench` ends with (pure: the measurements are the caller's). Absolute rates
 * differ from machine to machine, so the targets are ratios measured in one run on one machine
 * (the switch against the bare server and codec, and against the ledger without batching) and
 * costs per message.
 */
import { stealDisturbed } from './probes/cpu-budget.js';

export interface Summary {
  /** The highest rate each run held for the hold's length at the SLO; null when it held none. */
  ceilingPerSecond: number | null;
  switchPerSecond: number | null;
  unbatchedPerSecond: number | null;
  switchToCeiling: number | null;
  switchToUnbatched: number | null;
  /** PostgreSQL's CPU per approval at the highest rate the switch answered without errors, whatever its p99. */
  postgresUsPerApproval: number | null;
  /** The CPU of the switch, PostgreSQL, Redis and the simulator per answer at 1,000/s. */
  cpuUsPerAnswerAt1000: number | null;
  /** The simulator's own CPU per answered message at 1,000/s against the switch. */
  simulatorUsPerMessage: number | null;
  /**
   * The floor of cpuUsPerAnswerAt1000 on this machine: the ceiling server and the simulator per
   * answer at the same rate (every message wakes both; nothing else is done).
   */
  ceilingCpuUsPerAnswerAt1000: number | null;
  /** cpuUsPerAnswerAt1000 / ceilingCpuUsPerAnswerAt1000: what the CI check judges (bench/ci-check.ts). */
  cpuAt1000ToCeiling: number | null;
  /** Part of the switch's cost: checking a message's MAC (retail MAC) and reading its PIN block, µs on one core (bench/security.ts). */
  securityUsPerMessage: number | null;
  /** Part of the simulator's: MACing a message and making its PIN block, as the firmware does. */
  simulatorSecurityUsPerMessage: number | null;
}

export interface Target {
  field: keyof Summary;
  op: '>=' | '<=';
  value: number;
}

export const TARGETS: readonly Target[] = [
  { field: 'switchToCeiling', op: '>=', value: 0.5 },
  { field: 'switchToUnbatched', op: '>=', value: 5 },
  { field: 'postgresUsPerApproval', op: '<=', value: 20 },
  { field: 'cpuUsPerAnswerAt1000', op: '<=', value: 500 },
];

/** A target and whether the run met it (null: not measured, which is not a pass). */
export interface TargetResult extends Target {
  actual: number | null;
  met: boolean | null;
}

export interface Measured {
  ceilingPerSecond?: number;
  switchPerSecond?: number;
  unbatchedPerSecond?: number;
  postgresUsPerApproval?: number;
  cpuUsPerAnswerAt1000?: number;
  simulatorUsPerMessage?: number;
  ceilingCpuUsPerAnswerAt1000?: number;
  securityUsPerMessage?: number;
  simulatorSecurityUsPerMessage?: number;
}

/** Rounded to what the machine's noise leaves meaningful: rates to 1/s, ratios to 0.01, µs to 0.1. */
export function summarize(m: Measured): Summary {
  const num = (x: number | undefined, digits: number): number | null => (x === undefined || !Number.isFinite(x) ? null : Number(x.toFixed(digits)));
  // a ratio needs both rates: 0 against a held rate would read as a measured ratio
  const ratio = (a: number | undefined, b: number | undefined): number | null => (a && b ? num(a / b, 2) : null);
  return {
    ceilingPerSecond: num(m.ceilingPerSecond, 0),
    switchPerSecond: num(m.switchPerSecond, 0),
    unbatchedPerSecond: num(m.unbatchedPerSecond, 0),
    switchToCeiling: ratio(m.switchPerSecond, m.ceilingPerSecond),
    switchToUnbatched: ratio(m.switchPerSecond, m.unbatchedPerSecond),
    postgresUsPerApproval: num(m.postgresUsPerApproval, 1),
    cpuUsPerAnswerAt1000: num(m.cpuUsPerAnswerAt1000, 1),
    simulatorUsPerMessage: num(m.simulatorUsPerMessage, 1),
    ceilingCpuUsPerAnswerAt1000: num(m.ceilingCpuUsPerAnswerAt1000, 1),
    cpuAt1000ToCeiling: ratio(m.cpuUsPerAnswerAt1000, m.ceilingCpuUsPerAnswerAt1000),
    securityUsPerMessage: num(m.securityUsPerMessage, 1),
    simulatorSecurityUsPerMessage: num(m.simulatorSecurityUsPerMessage, 1),
  };
}

export function checkTargets(s: Summary, targets: readonly Target[] = TARGETS): TargetResult[] {
  return targets.map((t) => {
    const actual = s[t.field];
    const met = actual === null ? null : t.op === '>=' ? actual >= t.value : actual <= t.value;
    return { ...t, actual, met };
  });
}

const LABELS: Record<keyof Summary, string> = {
  ceilingPerSecond: 'ceiling, held (/s)',
  switchPerSecond: 'switch, held (/s)',
  unbatchedPerSecond: 'unbatched ledger, held (/s)',
  switchToCeiling: 'switch / ceiling',
  switchToUnbatched: 'switch / unbatched',
  postgresUsPerApproval: 'PostgreSQL µs per approval',
  cpuUsPerAnswerAt1000: 'CPU µs per answer at 1,000/s',
  simulatorUsPerMessage: 'simulator µs per message',
  ceilingCpuUsPerAnswerAt1000: "ceiling's CPU µs per answer at 1,000/s (server + simulator)",
  cpuAt1000ToCeiling: 'CPU per answer at 1,000/s, switch / ceiling',
  securityUsPerMessage: 'of which the switch: MAC check + PIN read (µs)',
  simulatorSecurityUsPerMessage: 'of which the simulator: MAC + PIN block (µs)',
};

/** The summary as a Markdown table: every field, its target and whether it is met. */
export function summaryTable(s: Summary, results: readonly TargetResult[]): string[] {
  const lines = ['| figure | value | target | met |', '|---|---:|---:|---|'];
  for (const field of Object.keys(LABELS) as (keyof Summary)[]) {
    const v = s[field];
    const t = results.find((r) => r.field === field);
    const value = v === null ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: 2 });
    const target = t ? `${t.op} ${t.value.toLocaleString('en-US')}` : '';
    const met = t ? (t.met === null ? 'not measured' : t.met ? 'yes' : 'NO') : '';
    lines.push(`| ${LABELS[field]} | ${value} | ${target} | ${met} |`);
  }
  return lines;
}

/** The median of some numbers (undefined for none). */
export function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** What switchCosts reads of a step of the switch. */
export interface CostStep {
  rate: number;
  /** A hold (not a step of the search). */
  hold: boolean;
  /** No errors, every message answered. */
  answered: boolean;
  approvedPerSecond: number;
  /** PostgreSQL's cores over the step's window. */
  postgresCores?: number;
  /** CPU per answer of the switch, PostgreSQL, Redis and the simulator, and of the simulator alone. */
  countedUs?: number;
  simulatorUs?: number;
  /** The host's steal per answer over the step (a part of the machine's rest, not counted). */
  stolenUs?: number;
}

/**
 * The steps at `costRate` whose CPU per answer counts: those the host's steal did not disturb
 * (bench/probes/cpu-budget.ts `stealDisturbed`: steal makes a wake-up dearer, and at 1,000/s an
 * answer costs mostly wake-ups), or all of them when every one was.
 */
export function costStepsUsed<S extends Pick<CostStep, 'rate' | 'hold' | 'countedUs' | 'stolenUs'>>(steps: readonly S[], costRate: number): S[] {
  const at = steps.filter((s) => !s.hold && s.rate === costRate);
  const clean = at.filter((s) => s.countedUs !== undefined && !stealDisturbed(s.countedUs, s.stolenUs));
  return clean.length > 0 ? clean : at;
}

/**
 * The costs of the summary, from the steps of a search (the switch's; the ceiling's for its floor
 * at `costRate`; the holds run other rates and would weigh twice): PostgreSQL's CPU per approval
 * at the highest rate answered without errors
 * (`capacity`), the CPU per answer at `costRate` and the simulator's share of it; the median
 * where a rate was run twice, the steps the host's steal disturbed left out (costStepsUsed).
 */
export function switchCosts(steps: readonly CostStep[], capacity: number | undefined, costRate: number): { postgresUsPerApproval?: number; cpuUsPerAnswerAt1000?: number; simulatorUsPerMessage?: number } {
  const search = steps.filter((s) => !s.hold);
  const atCapacity = search.filter((s) => s.rate === capacity && s.answered && s.postgresCores !== undefined && s.approvedPerSecond > 0);
  const atCost = costStepsUsed(search, costRate);
  const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined);
  return {
    postgresUsPerApproval: median(atCapacity.map((s) => ((s.postgresCores as number) / s.approvedPerSecond) * 1e6)),
    cpuUsPerAnswerAt1000: median(defined(atCost.map((s) => s.countedUs))),
    simulatorUsPerMessage: median(defined(atCost.map((s) => s.simulatorUs))),
  };
}
