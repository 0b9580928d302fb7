/**
 * What the load generator counts: messages sent and answered by type, answers by response
 * code, timeouts, and latencies (microseconds, from each message's intended send time) in
 * HdrHistograms: one for the whole run, one per second for the series.
 *
 * Errors (what --slo errors= limits): timeouts, messages lost with a connection, messages
 * still unanswered at the end, and answers with an error code (codes.ts ERROR_CODES: 30,
 * 91, 94, 96). Declines for business reasons (51, 61, 14, ...) are not errors.
 */
import { build, type Histogram } from 'hdr-histogram-js';
import { ERROR_CODES } from '../codes.js';
import { MESSAGE_TYPES, type MessageType } from './plan.js';

export class TypeCounts {
  sent = 0;
  answered = 0;
  approved = 0;
  timeouts = 0;
  lost = 0;
  byCode: Record<string, number> = {};
}

export interface SecondPoint {
  /** Seconds since the start at the end of this interval (which began at the previous point's t). */
  t: number;
  targetRate: number;
  sent: number;
  answered: number;
  approved: number;
  errors: number;
  timeouts: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface LatencySummary {
  count: number;
  meanMs: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p99_9Ms: number;
  maxMs: number;
}

const HIGHEST_US = 3_600_000_000;
const histogram = (): Histogram => build({ lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
const ms = (us: number): number => Math.round(us) / 1000;

export class LoadStats {
  readonly types = Object.fromEntries(MESSAGE_TYPES.map((t) => [t, new TypeCounts()])) as Record<MessageType, TypeCounts>;
  readonly byCode: Record<string, number> = {};
  readonly latency = histogram();
  private readonly interval = histogram();
  readonly series: SecondPoint[] = [];
  sent = 0;
  answered = 0;
  approved = 0;
  timeouts = 0;
  lost = 0;
  /** Answers that came after their message had timed out (not counted as answered). */
  late = 0;
  /** Answers that matched no message. */
  unmatched = 0;
  /** Still waiting when the run stopped waiting. */
  unanswered = 0;
  errorAnswers = 0;
  /** Largest delay between a message's intended and actual send time (ms): the generator falling behind. */
  maxSendLagMs = 0;
  /**
   * Every message's delay between its intended and actual send time (µs). Its latency counts
   * from the intended time (no coordinated omission), so this delay is part of it: the share of
   * the latency that the generator itself added (its 1 ms timer, its waits for a core).
   */
  readonly sendLag = histogram();
  private last = { sent: 0, answered: 0, approved: 0, errors: 0, timeouts: 0 };

  sentOne(type: MessageType): void {
    this.sent++;
    this.types[type].sent++;
  }

  answer(type: MessageType, code: string, latencyUs: number): void {
    const c = this.types[type];
    this.answered++;
    c.answered++;
    this.byCode[code] = (this.byCode[code] ?? 0) + 1;
    c.byCode[code] = (c.byCode[code] ?? 0) + 1;
    if (code === '00') {
      this.approved++;
      c.approved++;
    } else if (ERROR_CODES.has(code)) {
      this.errorAnswers++;
    }
    this.record(latencyUs);
  }

  /** A timed-out message is recorded at the timeout: its latency is at least that. */
  timeout(type: MessageType, timeoutUs: number): void {
    this.timeouts++;
    this.types[type].timeouts++;
    this.record(timeoutUs);
  }

  lostOne(type: MessageType): void {
    this.lost++;
    this.types[type].lost++;
  }

  get errors(): number {
    return this.timeouts + this.lost + this.unanswered + this.errorAnswers;
  }

  private record(us: number): void {
    const v = Math.max(1, Math.min(HIGHEST_US, Math.round(us)));
    this.latency.recordValue(v);
    this.interval.recordValue(v);
  }

  /** Something happened since the last point of the series. */
  unseriesed(): boolean {
    const l = this.last;
    return this.sent !== l.sent || this.answered !== l.answered || this.errors !== l.errors || this.timeouts !== l.timeouts;
  }

  /** Closes the current interval (normally a second) of the series. */
  second(t: number, targetRate: number): SecondPoint {
    const h = this.interval;
    const p: SecondPoint = {
      t,
      targetRate: Math.round(targetRate * 100) / 100,
      sent: this.sent - this.last.sent,
      answered: this.answered - this.last.answered,
      approved: this.approved - this.last.approved,
      errors: this.errors - this.last.errors,
      timeouts: this.timeouts - this.last.timeouts,
      p50Ms: h.totalCount ? ms(h.getValueAtPercentile(50)) : 0,
      p99Ms: h.totalCount ? ms(h.getValueAtPercentile(99)) : 0,
      maxMs: h.totalCount ? ms(h.maxValue) : 0,
    };
    this.last = { sent: this.sent, answered: this.answered, approved: this.approved, errors: this.errors, timeouts: this.timeouts };
    h.reset();
    this.series.push(p);
    return p;
  }

  /** A message left `lagMs` after its intended time. */
  sentLate(lagMs: number): void {
    if (lagMs > this.maxSendLagMs) this.maxSendLagMs = lagMs;
    this.sendLag.recordValue(Math.max(1, Math.min(HIGHEST_US, Math.round(lagMs * 1000))));
  }

  /**
   * The send delays' percentiles (ms, the histogram's 3 digits) and their exact max (to 0.01 ms);
   * no percentile above the max.
   */
  sendLagSummary(): { p50Ms: number; p99Ms: number; maxMs: number } {
    const h = this.sendLag;
    if (h.totalCount === 0) return { p50Ms: 0, p99Ms: 0, maxMs: 0 };
    const maxMs = Math.round(this.maxSendLagMs * 100) / 100;
    const at = (p: number): number => Math.min(maxMs, ms(h.getValueAtPercentile(p)));
    return { p50Ms: at(50), p99Ms: at(99), maxMs };
  }

  summary(): LatencySummary {
    const h = this.latency;
    const at = (p: number): number => (h.totalCount ? ms(h.getValueAtPercentile(p)) : 0);
    return { count: h.totalCount, meanMs: h.totalCount ? Math.round(h.mean) / 1000 : 0, p50Ms: at(50), p90Ms: at(90), p99Ms: at(99), p99_9Ms: at(99.9), maxMs: h.totalCount ? ms(h.maxValue) : 0 };
  }

  /** Latency at percentiles spaced evenly in "nines" (0, 20.6, 36.9, ... 90, ... 99, ... up to 99.999), then max. */
  percentileCurve(): { percentile: number; ms: number }[] {
    const h = this.latency;
    if (h.totalCount === 0) return [];
    const out: { percentile: number; ms: number }[] = [];
    for (let i = 0; i <= 50; i++) {
      const p = 100 * (1 - 10 ** (-i / 10));
      if (p > 99.999) break;
      out.push({ percentile: Math.round(p * 10000) / 10000, ms: ms(h.getValueAtPercentile(p)) });
    }
    out.push({ percentile: 100, ms: ms(h.maxValue) });
    return out;
  }
}
