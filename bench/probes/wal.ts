/**
 * PostgreSQL's write-ahead log over one bench step: bytes written (pg_current_wal_lsn) and
 * checkpoints started (pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer from 17).
 * An approval is answered once its batch's WAL is flushed; after a checkpoint starts, the first
 * change to each page writes the whole page to the WAL, and a checkpoint's writes share the disk
 * with those flushes. The bench prints this beside each step so that a step whose p99 jumped can
 * be told apart from one that overlapped a checkpoint.
 *
 * And the WAL segment files the step used against those that were ready ahead of it: a file that
 * was not ready is created by a commit while every other commit waits (db/wal.ts, which `make
 * bench` uses to make them ready before it measures).
 */
import type pg from 'pg';
import { walAhead, type WalAhead } from '../../db/wal.js';

export interface WalReading {
  /** Bytes of WAL since the cluster began (the LSN as a number). */
  bytes: bigint;
  /** Checkpoints started, timed and requested; undefined when the statistics are not readable. */
  checkpoints?: number;
  /** Recycled segment files ahead of the one being written; undefined when pg_wal is not readable (pg_ls_waldir needs pg_monitor). */
  ahead?: WalAhead;
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
  return { bytes: lsnBytes(rows[0].lsn), checkpoints, ahead: await walAhead(db) };
}

export interface WalStep {
  bytes: number;
  checkpoints?: number;
  /** Segment files the step's WAL moved into, and how many were ready (recycled ahead) at its start. */
  segments?: { used: number; ready: number };
}

/**
 * What a step wrote: WAL bytes, checkpoints started when both readings have them, and the segment
 * files it moved into against those that were ready, when pg_wal was readable. A file used beyond
 * those ready was created by a commit, unless a checkpoint recycled one in time (which PostgreSQL
 * reports only when the checkpoint ends, so the count of checkpoints cannot tell).
 */
export function walBetween(before: WalReading, after: WalReading): WalStep {
  const bytes = Number(after.bytes - before.bytes);
  const w: WalStep = { bytes };
  if (before.checkpoints !== undefined && after.checkpoints !== undefined) w.checkpoints = after.checkpoints - before.checkpoints;
  if (before.ahead !== undefined) {
    const seg = BigInt(before.ahead.segmentBytes);
    w.segments = { used: Number(after.bytes / seg - before.bytes / seg), ready: before.ahead.segments };
  }
  return w;
}

/** "PostgreSQL: 226 MB of WAL, 1.4 kB per answer, no checkpoint started, segment files: 14 used, 3 of them ready". */
export function describeWal(before: WalReading, after: WalReading, answers: number): string {
  const { bytes, checkpoints: n, segments: s } = walBetween(before, after);
  const mb = bytes / 1e6;
  const perAnswer = answers > 0 ? `, ${(bytes / answers / 1000).toFixed(1)} kB per answer` : '';
  const ckpt = n === undefined ? '' : n === 0 ? ', no checkpoint started' : `, ${n} checkpoint${n === 1 ? '' : 's'} started`;
  const segs = s === undefined || s.used === 0 ? '' : `, segment files: ${s.used} used, ${s.ready >= s.used ? 'all' : s.ready === 0 ? 'none' : `${s.ready} of them`} ready`;
  return `PostgreSQL: ${mb < 10 ? mb.toFixed(1) : mb.toFixed(0)} MB of WAL${perAnswer}${ckpt}${segs}`;
}
