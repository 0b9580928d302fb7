/**
 * --slo: limits the run must meet, e.g. `p99=10ms,errors=0`. Each part is metric=limit:
 *   p50, p90, p99, p99.9, ... (any percentile), max, mean   latency at most this (us, ms, s)
 *   errors     at most this many errors, or this share of the messages sent (`errors=0.1%`)
 *   timeouts   at most this many timeouts
 *   achieved   the answered rate at least this share of the target (`achieved=95%`)
 * Errors are defined in stats.ts: timeouts, lost and unanswered messages, and answers 30,
 * 91, 94 or 96; business declines are not errors.
 */
import { UsageError, duration } from '../args.js';
import type { LoadStats } from './stats.js';

export interface SloRule {
  text: string;
  metric: string;
  /** Latencies in ms; counts; shares in percent (with `percent`). */
  limit: number;
  percent: boolean;
}

export interface SloCheck {
  rule: string;
  actual: string;
  ok: boolean;
}

export function parseSlo(text: string): SloRule[] {
  return text.split(',').map((part) => {
    const m = /^\s*([a-z0-9.]+)\s*=\s*([^\s]+)\s*$/i.exec(part);
    if (!m) throw new UsageError(`--slo ${JSON.stringify(part)}: each part is metric=limit, e.g. p99=10ms,errors=0`);
    const metric = m[1].toLowerCase();
    const value = m[2];
    if (/^p[0-9]+(\.[0-9]+)?$/.test(metric) || metric === 'max' || metric === 'mean') {
      const p = metric.startsWith('p') ? Number(metric.slice(1)) : 0;
      if (metric.startsWith('p') && !(p > 0 && p <= 100)) throw new UsageError(`--slo ${metric}: a percentile is in (0, 100]`);
      return { text: part.trim(), metric, limit: duration(value, `slo ${metric}`), percent: false };
    }
    if (metric === 'errors' || metric === 'timeouts' || metric === 'achieved') {
      const pm = /^([0-9]+(?:\.[0-9]+)?)(%?)$/.exec(value);
      if (!pm) throw new UsageError(`--slo ${metric}=${value}: a count or a percentage`);
      if (metric === 'achieved' && pm[2] !== '%') throw new UsageError('--slo achieved is a percentage of the target rate, e.g. achieved=95%');
      return { text: part.trim(), metric, limit: Number(pm[1]), percent: pm[2] === '%' };
    }
    throw new UsageError(`--slo: unknown metric ${metric} (pNN, max, mean, errors, timeouts, achieved)`);
  });
}

export function checkSlo(rules: readonly SloRule[], stats: LoadStats, achievedPercent: number): SloCheck[] {
  return rules.map((r) => {
    if (r.metric === 'errors' || r.metric === 'timeouts') {
      const n = r.metric === 'errors' ? stats.errors : stats.timeouts;
      if (r.percent) {
        const share = stats.sent === 0 ? 0 : (100 * n) / stats.sent;
        return { rule: r.text, actual: `${n} (${share.toFixed(3)}%)`, ok: share <= r.limit };
      }
      return { rule: r.text, actual: String(n), ok: n <= r.limit };
    }
    if (r.metric === 'achieved') return { rule: r.text, actual: `${achievedPercent.toFixed(1)}%`, ok: achievedPercent >= r.limit };
    const h = stats.latency;
    const us = h.totalCount === 0 ? 0 : r.metric === 'max' ? h.maxValue : r.metric === 'mean' ? h.mean : h.getValueAtPercentile(Number(r.metric.slice(1)));
    const ms = us / 1000;
    return { rule: r.text, actual: `${ms.toFixed(3)}ms`, ok: ms <= r.limit };
  });
}
