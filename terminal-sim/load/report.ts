/**
 * The results of a load run: the JSON report (--json FILE) and the final table. Counts add up:
 *   sent = answered + timeouts + lost + unanswered        (per type as well)
 *   answered = sum of byCode;  approved = byCode["00"];  declined = answered - approved
 */
import { responseName } from '../../protocol/index.js';
import { MESSAGE_TYPES, type Mix, type Schedule } from './plan.js';
import type { LoadResult } from './engine.js';
import type { LatencySummary, SecondPoint, TypeCounts } from './stats.js';
import type { SloCheck } from './slo.js';

export const ERROR_DEFINITION =
  'errors = timeouts + messages lost with a closed connection + messages unanswered at the end + answers 30 (format error), 91 (database unreachable), 94 (duplicate with other content), 96 (malfunction); business declines (51, 61, 14, ...) are not errors';

export interface LoadReport {
  tool: 'terminal-sim load';
  version: 1;
  startedAt: string;
  elapsedSeconds: number;
  target: {
    host: string;
    port: number;
    framing: string;
    spec: string;
    rate: { from: number; to: number };
    durationSeconds: number;
    scheduledTransactions: number;
    mix: Mix;
    terminals: number;
    connections: number;
    amount: number;
    timeoutMs: number;
  };
  signOn: LoadResult['signOn'];
  /** Messages sent with a MAC and with a cardholder PIN block (DE52). */
  security: LoadResult['security'];
  sent: number;
  answered: number;
  approved: number;
  declined: number;
  errors: number;
  timeouts: number;
  lost: number;
  unanswered: number;
  late: number;
  unmatched: number;
  errorAnswers: number;
  byCode: Record<string, number>;
  declinedByCode: Record<string, number>;
  byType: Record<string, { sent: number; answered: number; approved: number; timeouts: number; lost: number; byCode: Record<string, number> }>;
  throughput: { sentPerSecond: number; answeredPerSecond: number; approvedPerSecond: number };
  /** Answered transactions (completions aside) as a share of the scheduled ones. */
  achievedPercent: number;
  latencyMs: LatencySummary;
  percentiles: { percentile: number; ms: number }[];
  series: SecondPoint[];
  maxSendLagMs: number;
  /** How late the generator sent its messages (ms): part of every latency above. */
  sendLagMs: { p50Ms: number; p99Ms: number; maxMs: number };
  codesUsed: number;
  codesExhausted: number;
  errorDefinition: string;
  slo?: { ok: boolean; checks: SloCheck[] };
}

export interface RunInfo {
  host: string;
  port: number;
  framing: string;
  spec: string;
  schedule: Schedule;
  mix: Mix;
  terminals: number;
  connections: number;
  amount: number;
  timeoutMs: number;
}

const r2 = (n: number): number => Math.round(n * 100) / 100;

export function achievedPercent(result: LoadResult, schedule: Schedule): number {
  const s = result.stats;
  const answeredTx = s.answered - s.types.completion.answered;
  return schedule.total === 0 ? 100 : r2((100 * answeredTx) / schedule.total);
}

export function makeReport(result: LoadResult, info: RunInfo, slo?: SloCheck[]): LoadReport {
  const s = result.stats;
  const secs = result.elapsedMs / 1000;
  const byType: LoadReport['byType'] = {};
  for (const t of MESSAGE_TYPES) {
    const c: TypeCounts = s.types[t];
    byType[t] = { sent: c.sent, answered: c.answered, approved: c.approved, timeouts: c.timeouts, lost: c.lost, byCode: { ...c.byCode } };
  }
  const declinedByCode = Object.fromEntries(Object.entries(s.byCode).filter(([c]) => c !== '00'));
  return {
    tool: 'terminal-sim load',
    version: 1,
    startedAt: result.started.toISOString(),
    elapsedSeconds: r2(secs),
    target: {
      host: info.host,
      port: info.port,
      framing: info.framing,
      spec: info.spec,
      rate: { from: info.schedule.from, to: info.schedule.to },
      durationSeconds: info.schedule.durationMs / 1000,
      scheduledTransactions: info.schedule.total,
      mix: info.mix,
      terminals: info.terminals,
      connections: info.connections,
      amount: info.amount,
      timeoutMs: info.timeoutMs,
    },
    signOn: result.signOn,
    security: result.security,
    sent: s.sent,
    answered: s.answered,
    approved: s.approved,
    declined: s.answered - s.approved,
    errors: s.errors,
    timeouts: s.timeouts,
    lost: s.lost,
    unanswered: s.unanswered,
    late: s.late,
    unmatched: s.unmatched,
    errorAnswers: s.errorAnswers,
    byCode: { ...s.byCode },
    declinedByCode,
    byType,
    throughput: { sentPerSecond: r2(s.sent / secs), answeredPerSecond: r2(s.answered / secs), approvedPerSecond: r2(s.approved / secs) },
    achievedPercent: achievedPercent(result, info.schedule),
    latencyMs: s.summary(),
    percentiles: s.percentileCurve(),
    series: s.series,
    maxSendLagMs: r2(s.maxSendLagMs),
    sendLagMs: s.sendLagSummary(),
    codesUsed: result.codesUsed,
    codesExhausted: result.codesExhausted,
    errorDefinition: ERROR_DEFINITION,
    slo: slo && { ok: slo.every((c) => c.ok), checks: slo },
  };
}

/**
 * One line on the generator's own delay: "simulator: sent late by p50 0.55, p99 1.38, max 9.2 ms".
 * Latency counts from the intended send time, so this much of it is the simulator's, not the
 * switch's; a p99 here near 1 ms is its timer, above that it waited for a core.
 */
export function describeSendLag(r: Pick<LoadReport, 'sendLagMs' | 'sent'>): string {
  if (r.sent === 0) return 'simulator: nothing sent';
  const l = r.sendLagMs;
  return `simulator: sent late by p50 ${l.p50Ms.toFixed(2)}, p99 ${l.p99Ms.toFixed(2)}, max ${l.maxMs.toFixed(1)} ms (part of every latency)`;
}

/** The final table, for people. */
export function summaryTable(r: LoadReport): string {
  const L: string[] = [];
  const t = r.target;
  const rate = t.rate.from === t.rate.to ? `${t.rate.from}/s` : `ramp ${t.rate.from}/s to ${t.rate.to}/s`;
  const mix = Object.entries(t.mix)
    .filter(([, w]) => w > 0)
    .map(([k, w]) => `${k}=${w}`)
    .join(',');
  L.push(`load: ${t.host}:${t.port} ${t.framing}/${t.spec}, ${t.terminals} terminals on ${t.connections} connections, ${rate} for ${t.durationSeconds}s, mix ${mix}`);
  L.push('');
  const row = (name: string, c: { sent: number; answered: number; approved: number; timeouts: number; lost: number }): string =>
    `  ${name.padEnd(11)}${[c.sent, c.answered, c.approved, c.answered - c.approved, c.timeouts, c.lost].map((n) => String(n).padStart(10)).join('')}`;
  L.push(`  ${''.padEnd(11)}${['sent', 'answered', 'approved', 'declined', 'timeouts', 'lost'].map((h) => h.padStart(10)).join('')}`);
  for (const [name, c] of Object.entries(r.byType)) if (c.sent > 0) L.push(row(name, c));
  L.push(row('total', r));
  L.push('');
  const declines = Object.entries(r.declinedByCode).sort(([a], [b]) => a.localeCompare(b));
  L.push(`  declined by code: ${declines.length === 0 ? 'none' : declines.map(([c, n]) => `${c} x${n} (${responseName(c) ?? 'unknown'})`).join(', ')}`);
  L.push(`  errors: ${r.errors} (timeouts ${r.timeouts}, lost ${r.lost}, unanswered ${r.unanswered}, error answers ${r.errorAnswers}); late answers ${r.late}`);
  L.push(`  throughput: ${r.throughput.sentPerSecond} msg/s sent, ${r.throughput.answeredPerSecond} answered, ${r.throughput.approvedPerSecond} approved (${r.achievedPercent}% of the target answered)`);
  const l = r.latencyMs;
  L.push(`  latency ms (from the intended send time): p50 ${l.p50Ms}  p90 ${l.p90Ms}  p99 ${l.p99Ms}  p99.9 ${l.p99_9Ms}  max ${l.maxMs}  (sent late by p50 ${r.sendLagMs.p50Ms}, p99 ${r.sendLagMs.p99Ms}, max ${r.maxSendLagMs} ms)`);
  if (r.signOn.ok + r.signOn.timeouts + Object.keys(r.signOn.refused).length > 0) {
    L.push(`  sign-on: ${r.signOn.ok} ok, ${r.signOn.timeouts} without answer, refused ${JSON.stringify(r.signOn.refused)}, keys renewed ${r.signOn.keysRenewed}`);
    L.push(`  security: ${r.security.maced} messages MACed, ${r.security.pinBlocks} with a PIN block`);
  }
  if (r.slo) {
    for (const c of r.slo.checks) L.push(`  SLO ${c.rule}: ${c.actual} ${c.ok ? 'ok' : 'MISSED'}`);
    L.push(`  SLO ${r.slo.ok ? 'met' : 'MISSED'}`);
  }
  return L.join('\n');
}
