/**
 * The ledger: the rules (ledger/rules.ts) decide each item of a batch, the posting
 * (ledger/posting.ts) locks, reads and writes a batch in one transaction, the batcher
 * (ledger/batcher.ts) groups concurrent callers' items into batches, the sweep
 * (ledger/expiry.ts) releases expired holds. This module is what the rest of the code imports.
 */
export * from './ledger/types.js';
export { Ledger, HOLD_TTL_MS, REVERSAL_WINDOW_MS, type LockedBy } from './ledger/posting.js';
export { LedgerBatcher, type BatcherOptions } from './ledger/batcher.js';
export { expireHolds, type SweepResult } from './ledger/expiry.js';
