/**
 * Date and time fields a terminal writes, in UTC (the host interface's clock; XOF
 * countries are on UTC): DE7 MMDDhhmmss, DE12 hhmmss, DE13 MMDD.
 */

const p2 = (n: number): string => (n < 10 ? '0' : '') + n;

/** DE7, transmission date and time. */
export function de7(d: Date): string {
  return p2(d.getUTCMonth() + 1) + p2(d.getUTCDate()) + p2(d.getUTCHours()) + p2(d.getUTCMinutes()) + p2(d.getUTCSeconds());
}

/** DE12, local transaction time. */
export function de12(d: Date): string {
  return p2(d.getUTCHours()) + p2(d.getUTCMinutes()) + p2(d.getUTCSeconds());
}

/** DE13, local transaction date. */
export function de13(d: Date): string {
  return p2(d.getUTCMonth() + 1) + p2(d.getUTCDate());
}

/** DE7 of the current second, computed once a second (for the load generator's hot path). */
export class SecondClock {
  private second = -1;
  private text = '';

  de7(nowMs = Date.now()): string {
    const s = Math.floor(nowMs / 1000);
    if (s !== this.second) {
      this.second = s;
      this.text = de7(new Date(s * 1000));
    }
    return this.text;
  }
}
