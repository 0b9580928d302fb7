/**
 * Unknown transaction codes counted per terminal: past `limit` within `windowMs`, that
 * terminal's code redemptions are refused (75, db/ledger/rules.ts codeGuessVerdict) for
 * `blockMs`. Kept in this process (each switch process counts its own terminals' connections),
 * bounded by `maxTerminals`.
 */
export class CodeGuessGuard {
  private readonly terminals = new Map<string, { count: number; since: number; blockedUntil?: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly blockMs: number,
    private readonly maxTerminals = 100_000,
  ) {}

  /** Until when the terminal may not redeem codes (undefined: it may). */
  blockedUntil(terminalId: string, now = Date.now()): number | undefined {
    const t = this.terminals.get(terminalId);
    if (t?.blockedUntil === undefined) return undefined;
    if (t.blockedUntil <= now) {
      this.terminals.delete(terminalId);
      return undefined;
    }
    return t.blockedUntil;
  }

  /** An unknown code from the terminal; true when this one blocked it. */
  unknown(terminalId: string, now = Date.now()): boolean {
    if (this.limit <= 0) return false;
    let t = this.terminals.get(terminalId);
    if (t === undefined || now - t.since > this.windowMs) {
      if (t === undefined && this.terminals.size >= this.maxTerminals) this.prune(now);
      t = { count: 0, since: now };
      this.terminals.set(terminalId, t);
    }
    t.count++;
    if (t.count >= this.limit && t.blockedUntil === undefined) {
      t.blockedUntil = now + this.blockMs;
      return true;
    }
    return false;
  }

  private prune(now: number): void {
    for (const [id, t] of this.terminals) if ((t.blockedUntil ?? 0) <= now && now - t.since > this.windowMs) this.terminals.delete(id);
  }
}
