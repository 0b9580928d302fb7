/**
 * The terminal's system trace audit number (DE11): 000001..999999, then 000001 again.
 * Kept in memory for the life of the terminal object; a repeat reuses its original's STAN.
 */

export const STAN_MAX = 999_999;

export class StanSequence {
  private last: number;

  /** `start` is the first STAN handed out (default 1). */
  constructor(start = 1) {
    if (!Number.isInteger(start) || start < 1 || start > STAN_MAX) throw new RangeError(`STAN start ${start} is not in 1..${STAN_MAX}`);
    this.last = start - 1;
  }

  /** The next STAN as a number. */
  nextNumber(): number {
    this.last = this.last >= STAN_MAX ? 1 : this.last + 1;
    return this.last;
  }

  /** The next STAN, 6 digits. */
  next(): string {
    return formatStan(this.nextNumber());
  }

  /** The STAN handed out last (0 before the first). */
  get current(): number {
    return this.last;
  }
}

export function formatStan(n: number): string {
  return String(n).padStart(6, '0');
}
