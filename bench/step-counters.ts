/**
 * What `make bench` (each step) and the CI check (its load) read before and after a load besides
 * the CPU: the switch's own latency and its ledger batches from its /metrics, and PostgreSQL's WAL
 * and checkpoints.
 * Either is left out when it cannot be read (no metrics port, a standby, no rights).
 */
import type pg from 'pg';
import { batchesBetween, describeAnswers, describeBatches, scrapeBatches, type BatchCounts } from './ledger-batches.js';
import { describeWal, readWal, walBetween, type WalStep } from './probes/wal.js';

export interface StepCounters {
  batches?: BatchCounts;
  wal?: WalStep;
  /** The lines to print under the step's figures. */
  lines: string[];
}

/** Reads both now; the function it returns reads them again and gives the difference. */
export async function startStepCounters(metricsPort: number | undefined, db: pg.Pool | undefined): Promise<() => Promise<StepCounters>> {
  const batchesBefore = metricsPort === undefined ? undefined : await scrapeBatches(metricsPort);
  const walBefore = db ? await readWal(db).catch(() => undefined) : undefined;
  return async () => {
    const batchesAfter = batchesBefore && metricsPort !== undefined ? await scrapeBatches(metricsPort) : undefined;
    const walAfter = walBefore && db ? await readWal(db).catch(() => undefined) : undefined;
    const batches = batchesBefore && batchesAfter ? batchesBetween(batchesBefore, batchesAfter) : undefined;
    const lines: string[] = [];
    if (batches) lines.push(describeAnswers(batches), describeBatches(batches));
    if (!walBefore || !walAfter) return { batches, lines };
    lines.push(describeWal(walBefore, walAfter, batches?.requests ?? 0));
    return { batches, wal: walBetween(walBefore, walAfter), lines };
  };
}
