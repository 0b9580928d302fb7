/**
 * PostgreSQL's write-ahead log over one bench step: bytes written (pg_current_wal_lsn) and
 * checkpoints started (pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer from 17).
 * An approval is answered once its batch's WAL is flushed; after a checkpoint starts, the first
 * change to each page writes the whole page to the WAL, and a checkpoint's writes share the disk
 * with those flushes. The bench prints this beside each step so that a step whose p99 jumped can
 * be told apart from one that overlapped a checkpoint.
 */
import type pg from 'pg';

export interface WalReading {
  /** Bytes of WAL since the cluster began (the LSN as a number). */
  bytes: bigint;
  /** Checkpoints started, timed and requested; undefined when the statistics are not readable. */
  checkpoints?: number;
}

/** The LSN "X/Y" as a byte count. */
export function lsnBytes(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]+)\/([0-9A-Fa-f]+)$/.exec(lsn);
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** The view that counts checkpoints moved in PostgreSQL 17. */
const checkpointsSql = (version: number): string =>
  version < 170000
    ? 'SELECT (checkpoints_timed + checkpoints_req)::float8 AS n FROM pg_stat_bgwriter'
    : 'SELECT (num_timed + num_requested)::float8 AS n FROM pg_stat_checkpointer';

export async function readWal(db: pg.Pool | pg.Client): Promise<WalReading> {
  const { rows } = await db.query<{ lsn: string; v: number }>("SELECT pg_current_wal_lsn()::text AS lsn, current_setting('server_version_num')::int AS v");
  // Statistics a role cannot read leave the reading without its checkpoint count.
  const checkpoints = (await db.query<{ n: number }>(checkpointsSql(rows[0].v)).catch(() => undefined))?.rows[0].n;
  return { bytes: lsnBytes(rows[0].lsn), checkpoints };
}

/** What a step wrote: WAL bytes, and checkpoints started when both readings have them. */
export function walBetween(before: WalReading, after: WalReading): { bytes: number; checkpoints?: number } {
  const bytes = Number(after.bytes - before.bytes);
  return before.checkpoints !== undefined && after.checkpoints !== undefined ? { bytes, checkpoints: after.checkpoints - before.checkpoints } : { bytes };
}

/** "PostgreSQL: 226 MB of WAL, 1.4 kB per answer, no checkpoint started". */
export function describeWal(before: WalReading, after: WalReading, answers: number): string {
  const { bytes, checkpoints: n } = walBetween(before, after);
  const mb = bytes / 1e6;
  const perAnswer = answers > 0 ? `, ${(bytes / answers / 1000).toFixed(1)} kB per answer` : '';
  const ckpt = n === undefined ? '' : n === 0 ? ', no checkpoint started' : `, ${n} checkpoint${n === 1 ? '' : 's'} started`;
  return `PostgreSQL: ${mb < 10 ? mb.toFixed(1) : mb.toFixed(0)} MB of WAL${perAnswer}${ckpt}`;
}
