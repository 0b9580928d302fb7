/**
 * PostgreSQL's write-ahead log over one bench step: bytes written (pg_current_wal_lsn) and
 * checkpoints started (pg_stat_bgwriter up to PostgreSQL 16, pg_stat_checkpointer from 17).
 * An approval is answered once its batch's WAL is flushed; after a checkpoint starts, the first
 * change to each page writes the whole page to the WAL, and a checkpoint's writes share the disk
 * with those flushes. The bench prints this beside each step so that a step whose p99 jumped can
 * be told apart from one that overlapped a checkpoint.
 *
 * And the WAL segment files that lie ahead of the write position, recycled. PostgreSQL writes its
 * WAL into 16 MB segment files; when the next one is not there, recycled by an earlier checkpoint,
 * the process whose commit crosses into it creates it, zero-filled (`wal_init_zero`), while it holds
 * the WAL write lock: every commit waits. A server in steady operation recycles its segments; a
 * fresh cluster, or one whose checkpoints have seen little WAL, does not have them, and on a fresh
 * virtual disk each such file held every commit for 40-70 ms (docs/architecture.md, "New WAL
 * segments"). So the bench
 * makes them before it measures (`prepareWal`), and says of each step how many segment files its
 * WAL used and how many of them were ready.
 */
import type pg from 'pg';

export interface WalReading {
  /** Bytes of WAL since the cluster began (the LSN as a number). */
  bytes: bigint;
  /** Checkpoints started, timed and requested; undefined when the statistics are not readable. */
  checkpoints?: number;
  /** Recycled segment files ahead of the one being written; undefined when pg_wal is not readable (pg_ls_waldir needs pg_monitor). */
  ahead?: WalAhead;
}

/** A WAL segment file's name: timeline, log and segment, 8 hex digits each (so names sort as they come). */
const SEGMENT = '^[0-9A-F]{24}$';

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
  const ahead = await walAhead(db);
  return ahead === undefined ? { bytes: lsnBytes(rows[0].lsn), checkpoints } : { bytes: lsnBytes(rows[0].lsn), checkpoints, ahead };
}

/** What the server holds ahead of its write position; undefined when pg_wal is not readable. */
export interface WalAhead {
  /** Recycled segment files after the one being written. */
  segments: number;
  segmentBytes: number;
  /** max_wal_size in bytes: a checkpoint recycles at most that far ahead of its start. */
  maxBytes: number;
}

export async function walAhead(db: pg.Pool | pg.Client): Promise<WalAhead | undefined> {
  const r = await db
    .query<{ ahead: number; seg: string; max: string }>(
      `SELECT (SELECT count(*)::int FROM pg_ls_waldir() WHERE name ~ '${SEGMENT}' AND name > pg_walfile_name(pg_current_wal_lsn())) AS ahead,
              (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
              (SELECT setting FROM pg_settings WHERE name = 'max_wal_size') AS max`,
    )
    .catch(() => undefined);
  if (!r) return undefined;
  // pg_settings gives wal_segment_size in bytes and max_wal_size in MB
  return { segments: r.rows[0].ahead, segmentBytes: Number(r.rows[0].seg), maxBytes: Number(r.rows[0].max) * 1024 * 1024 };
}

/** How many segments the bench wants ahead: three quarters of max_wal_size (a checkpoint recycles up to all of it). */
export function segmentsWanted(a: WalAhead): number {
  return Math.max(1, Math.floor((0.75 * a.maxBytes) / a.segmentBytes));
}

export type WalPrepared =
  | { ok: true; before: number; after: number; wanted: number; segmentBytes: number; wroteBytes: number }
  | { ok: false; reason: string };

/**
 * Makes sure recycled segment files lie ahead of the write position before a measured load: when
 * fewer than `wanted` do, writes that much WAL (logical messages: no table, nothing for the
 * checkpoint to write back) and checkpoints, which recycles the segments it passed into files
 * ahead (as many as max_wal_size and the distance between its checkpoints allow). Needs a role that
 * may read pg_wal and emit WAL messages (a superuser, as on the bench machines); otherwise says why.
 */
export async function prepareWal(db: pg.Pool | pg.Client, wanted?: number): Promise<WalPrepared> {
  const a = await walAhead(db);
  if (!a) return { ok: false, reason: 'pg_wal is not readable by this role (pg_ls_waldir needs pg_monitor)' };
  const want = wanted ?? segmentsWanted(a);
  if (a.segments >= want) return { ok: true, before: a.segments, after: a.segments, wanted: want, segmentBytes: a.segmentBytes, wroteBytes: 0 };
  // one segment more than missing, so that the checkpoint's start is past all of them
  const bytes = (want - a.segments + 1) * a.segmentBytes;
  const chunk = 1 << 20;
  try {
    for (let done = 0; done < bytes; done += chunk) await db.query("SELECT pg_logical_emit_message(false, 'cynod-bench', repeat('x', $1::int))", [chunk]);
    await db.query('CHECKPOINT');
  } catch (e) {
    return { ok: false, reason: `could not write WAL and checkpoint: ${(e as Error).message}` };
  }
  const b = await walAhead(db);
  return { ok: true, before: a.segments, after: b?.segments ?? 0, wanted: want, segmentBytes: a.segmentBytes, wroteBytes: bytes };
}

/** "PostgreSQL's WAL: 48 segment files ahead (805 MB; 2 before: 789 MB of WAL written and a checkpoint)". */
export function describePrepared(p: WalPrepared): string {
  if (!p.ok) return `PostgreSQL's WAL: segments ahead not prepared: ${p.reason}`;
  const mb = (n: number): string => `${Math.round(n / 1e6)} MB`;
  const made = p.wroteBytes > 0 ? `; ${p.before} before: ${mb(p.wroteBytes)} of WAL written and a checkpoint` : '';
  const short = p.after < p.wanted ? `, fewer than the ${p.wanted} wanted: segments will be created, zero-filled, during the loads` : '';
  return `PostgreSQL's WAL: ${p.after} segment files ahead (${mb(p.after * p.segmentBytes)}${made})${short}`;
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
