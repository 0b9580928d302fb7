/**
 * What the load generator sends and when: the schedule (a constant rate or a linear ramp,
 * open loop: the k-th transaction has an intended send time whatever happened before) and
 * the transaction mix.
 */
import { UsageError } from '../args.js';

/** Transactions per second from `from` to `to` over `durationMs` (from = to: a constant rate). */
export class Schedule {
  private readonly a: number;

  constructor(
    readonly from: number,
    readonly to: number,
    readonly durationMs: number,
  ) {
    if (!(from > 0 && to > 0)) throw new UsageError('rates must be positive');
    if (!(durationMs > 0)) throw new UsageError('the duration must be positive');
    this.a = (to - from) / (2 * (durationMs / 1000)); // N(t) = from*t + a*t^2, t in seconds
  }

  /** Intended send time (ms from the start) of transaction k (from 0). */
  timeOf(k: number): number {
    if (this.a === 0) return (k * 1000) / this.from;
    const b = this.from;
    return ((-b + Math.sqrt(b * b + 4 * this.a * k)) / (2 * this.a)) * 1000;
  }

  /** Target rate at `ms` from the start. */
  rateAt(ms: number): number {
    return this.from + ((this.to - this.from) * Math.min(ms, this.durationMs)) / this.durationMs;
  }

  /** Transactions the whole schedule starts. */
  get total(): number {
    const t = this.durationMs / 1000;
    return Math.floor(this.from * t + this.a * t * t);
  }
}

export const TX_TYPES = ['purchase', 'preauth', 'inquiry', 'redeem'] as const;
export type TxType = (typeof TX_TYPES)[number];
/** Every message the load sends: the four transaction types and the completion of a pump session. */
export const MESSAGE_TYPES = ['purchase', 'preauth', 'completion', 'inquiry', 'redeem'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export type Mix = Readonly<Record<TxType, number>>;

/** `purchase=80,preauth=10,inquiry=10` -> weights (any positive numbers; normalized when drawn). */
export function parseMix(text: string): Mix {
  const mix: Record<TxType, number> = { purchase: 0, preauth: 0, inquiry: 0, redeem: 0 };
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*=\s*([0-9]+(?:\.[0-9]+)?)\s*$/.exec(part);
    if (!m) throw new UsageError(`--mix ${JSON.stringify(text)}: each part is type=weight, e.g. purchase=80,preauth=10,inquiry=10`);
    if (!(TX_TYPES as readonly string[]).includes(m[1])) throw new UsageError(`--mix: unknown type ${m[1]} (one of ${TX_TYPES.join(', ')})`);
    mix[m[1] as TxType] = Number(m[2]);
  }
  if (TX_TYPES.every((t) => mix[t] === 0)) throw new UsageError('--mix: every weight is 0');
  return mix;
}

/** Draws transaction types by weight from a seeded generator (the same seed gives the same sequence). */
export class MixDraw {
  private readonly cumulative: number[];
  private state: number;

  constructor(mix: Mix, seed: number) {
    const total = TX_TYPES.reduce((s, t) => s + mix[t], 0);
    let acc = 0;
    this.cumulative = TX_TYPES.map((t) => (acc += mix[t] / total));
    let last = TX_TYPES.length - 1;
    while (mix[TX_TYPES[last]] === 0) last--;
    this.cumulative[last] = 1; // no rounding gap at the top
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  /** xorshift32 in [0, 1). */
  random(): number {
    let x = this.state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.state = x >>> 0;
    return this.state / 4294967296;
  }

  next(): TxType {
    const r = this.random();
    for (let i = 0; i < this.cumulative.length; i++) if (r < this.cumulative[i]) return TX_TYPES[i];
    return TX_TYPES[TX_TYPES.length - 1];
  }
}
