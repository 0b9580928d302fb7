// WAL segment files made ready ahead of PostgreSQL's write position (db/wal.ts): the arithmetic, the wording, the real server.
import t from 'tap';
import type pg from 'pg';
import { describePrepared, prepareWal, segmentsWanted, walAhead } from '../../db/wal.js';
import { testDb } from '../helpers/db.js';

/** The write position and the last checkpoint's redo point, as byte counts. */
async function lsn(pool: pg.Pool): Promise<{ bytes: bigint; redo: bigint }> {
  const r = await pool.query<{ b: string; r: string }>("SELECT (pg_current_wal_lsn() - '0/0')::text AS b, (redo_lsn - '0/0')::text AS r FROM pg_control_checkpoint()");
  return { bytes: BigInt(r.rows[0].b), redo: BigInt(r.rows[0].r) };
}

t.test('segmentsWanted: three quarters of max_wal_size, at least one', async (t) => {
  t.equal(segmentsWanted({ segments: 0, segmentBytes: 16 << 20, maxBytes: 1024 << 20 }), 48);
  t.equal(segmentsWanted({ segments: 0, segmentBytes: 64 << 20, maxBytes: 1024 << 20 }), 12);
  t.equal(segmentsWanted({ segments: 0, segmentBytes: 16 << 20, maxBytes: 16 << 20 }), 1);
});

t.test('describePrepared: ahead, made, short, not possible', async (t) => {
  const seg = 16 << 20;
  t.equal(describePrepared({ ok: true, before: 50, after: 50, wanted: 48, segmentBytes: seg, wroteBytes: 0 }), "PostgreSQL's WAL: 50 segment files ahead (839 MB)");
  t.equal(
    describePrepared({ ok: true, before: 2, after: 63, wanted: 48, segmentBytes: seg, wroteBytes: 47 * seg }),
    "PostgreSQL's WAL: 63 segment files ahead (1057 MB; 2 before: 789 MB of WAL written and a checkpoint)",
  );
  t.equal(
    describePrepared({ ok: true, before: 2, after: 20, wanted: 48, segmentBytes: seg, wroteBytes: 47 * seg }),
    "PostgreSQL's WAL: 20 segment files ahead (336 MB; 2 before: 789 MB of WAL written and a checkpoint), fewer than the 48 wanted: commits will create the others, zero-filled",
  );
  t.equal(describePrepared({ ok: false, reason: 'pg_wal is not readable' }), "PostgreSQL's WAL: segments ahead not prepared: pg_wal is not readable");
});

t.test('prepareWal on the real server: nothing when enough lie ahead; else WAL written and a checkpoint', async (t) => {
  const db = await testDb(t, { max: 1 });
  const ahead = await walAhead(db.pool);
  if (ahead === undefined) {
    const p = await prepareWal(db.pool);
    t.same(p, { ok: false, reason: 'pg_wal is not readable by this role (pg_ls_waldir needs pg_monitor)' }, 'a role without the right is told why');
    return;
  }
  t.ok(ahead.segmentBytes >= 1 << 20 && ahead.maxBytes >= ahead.segmentBytes, 'segment size and max_wal_size read in bytes');
  const none = await prepareWal(db.pool, 0);
  t.match(none, { ok: true, wroteBytes: 0, before: ahead.segments, after: ahead.segments }, 'none wanted: nothing written');
  const before = await lsn(db.pool);
  const made = await prepareWal(db.pool, ahead.segments + 1);
  const after = await lsn(db.pool);
  if (!made.ok) throw new Error(made.reason);
  t.equal(made.wroteBytes, 2 * ahead.segmentBytes, 'one segment more than were missing');
  t.ok(after.bytes - before.bytes >= BigInt(made.wroteBytes), `the WAL moved on by what was written (${after.bytes - before.bytes} bytes)`);
  t.ok(after.redo > before.redo, 'and a checkpoint ran (its redo point moved)');
  // other tests write WAL meanwhile and may move the server on by a file
  const now = (await walAhead(db.pool))?.segments ?? -10;
  t.ok(Math.abs(made.after - now) <= 2, `what it reports ahead (${made.after}) is what the server holds (${now})`);
});
