/**
 * The terminal's own batch totals, kept as the switch defines them for a 0500 (db/reconcile.ts):
 *   debits           purchases, redemptions and completions the terminal saw approved, amount > 0
 *   debit reversals  reversals acknowledged (00) of one of those, with the original's amount
 * Counted once per transaction, whatever the number of repeats; reset by a balanced 0510.
 */
import type { BatchFigures } from './messages.js';

export class BatchTotals implements BatchFigures {
  debits = 0;
  debitsAmount = 0;
  debitReversals = 0;
  debitReversalsAmount = 0;

  debit(amount: number): void {
    if (amount <= 0) return;
    this.debits++;
    this.debitsAmount += amount;
  }

  reversal(amount: number): void {
    if (amount <= 0) return;
    this.debitReversals++;
    this.debitReversalsAmount += amount;
  }

  snapshot(): BatchFigures {
    return { debits: this.debits, debitsAmount: this.debitsAmount, debitReversals: this.debitReversals, debitReversalsAmount: this.debitReversalsAmount };
  }

  /** Takes out what a balanced 0500 reported (never below zero). */
  subtract(b: BatchFigures): void {
    this.debits = Math.max(0, this.debits - b.debits);
    this.debitsAmount = Math.max(0, this.debitsAmount - b.debitsAmount);
    this.debitReversals = Math.max(0, this.debitReversals - b.debitReversals);
    this.debitReversalsAmount = Math.max(0, this.debitReversalsAmount - b.debitReversalsAmount);
  }

  reset(): void {
    this.debits = 0;
    this.debitsAmount = 0;
    this.debitReversals = 0;
    this.debitReversalsAmount = 0;
  }
}
