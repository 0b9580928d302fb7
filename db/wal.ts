/**
 * PostgreSQL's WAL segment files ready ahead of its write position. PostgreSQL writes its WAL into
 * segment files (16 MB by default), and a checkpoint recycles the files behind it into files ahead.
 * When none is ready, the commit that crosses into the next segment creates it, zero-filled
 * (`wal_init_zero`), while it holds the WAL write lock, and every other commit waits: on a fresh
 * virtual disk, 40-70 ms a file (docs/architecture.md, "New WAL segments"). `prepareWal` makes them
 * ready before a load: `make bench` calls it before each ledger run, and an operator before a new
 * server takes traffic (`node dist/backoffice/cli.js prepare-wal`).
 */
import type pg from 'pg';

/** A WAL segment file's name: timeline, log and segment, 8 hex digits each (so names sort as they come). */
const SEGMENT = '^[0-9A-F]{24}$';

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

/** How many segments to want ahead: three quarters of max_wal_size (a checkpoint recycles up to all of it). */
export function segmentsWanted(a: WalAhead): number {
  return Math.max(1, Math.floor((0.75 * a.maxBytes) / a.segmentBytes));
}

export type WalPrepared =
  | { ok: true; before: number; after: number; wanted: number; segmentBytes: number; wroteBytes: number }
  | { ok: false; reason: string };

/**
 * Makes sure recycled segment files lie ahead of the write position before a load: when
 * fewer than `wanted` do, writes WAL (logical messages: no table, nothing for the checkpoint to
 * write back) and checkpoints, which recycles the segments it passed into files ahead (as many as
 * max_wal_size and the distance between its checkpoints allow: seen here, 18 became 63 and 27
 * became 52 in one call, and at another time 46 became 43). It says what it got. Needs a role that
 * may read pg_wal and emit WAL messages (a superuser); otherwise says why.
 */
export async function prepareWal(db: pg.Pool | pg.Client, wanted?: number): Promise<WalPrepared> {
  const a = await walAhead(db);
  if (!a) return { ok: false, reason: 'pg_wal is not readable by this role (pg_ls_waldir needs pg_monitor)' };
  const want = wanted ?? segmentsWanted(a);
  if (a.segments >= want) return { ok: true, before: a.segments, after: a.segments, wanted: want, segmentBytes: a.segmentBytes, wroteBytes: 0 };
  // one segment more than missing, so that the checkpoint starts past all of them
  const bytes = (want - a.segments + 1) * a.segmentBytes;
  const chunk = 1 << 20;
  try {
    for (let done = 0; done < bytes; done += chunk) await db.query("SELECT pg_logical_emit_message(false, 'cynod-prepare-wal', repeat('x', $1::int))", [chunk]);
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
  const short = p.after < p.wanted ? `, fewer than the ${p.wanted} wanted: commits will create the others, zero-filled` : '';
  return `PostgreSQL's WAL: ${p.after} segment files ahead (${mb(p.after * p.segmentBytes)}${made})${short}`;
}
