/**
 * Disk flush probe: how long the disk under PostgreSQL takes to make 8 kB durable (a write,
 * then fdatasync, as a commit flushes its WAL), as percentiles and stalls. Every approval
 * waits for its batch's flush, so one slow flush holds every answer of that batch: the
 * switch's p99 can be no better than its disk's flushes, whatever the code does. `make bench`
 * prints this after its runs (flushing as fast as it can right before a load stalled that load's
 * first flushes).
 *
 *   make bench-disk     BENCH_DISK_SECONDS (default 10), BENCH_DISK_DIR (default: see flushDir)
 *
 * On some virtual machines, idle, flushes reached p99.9 12.6-37.7 ms and a max of 221-425 ms
 * (docs/benchmarks.md: what the host does to the p99).
 */
import { accessSync, closeSync, constants, fdatasyncSync, openSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { commonEnv, parseEnv } from '../../db/config.js';
import { createPool } from '../../db/pool.js';
import { percentilesMs } from '../stats.js';

/** Flushes above these many ms are counted as stalls. */
export const STALL_MS = [10, 50] as const;
const BLOCK = 8192;
/** The file cycles over this many blocks (1 MB). */
const BLOCKS = 128;

export interface FlushReport {
  dir: string;
  /** Why this directory (and whether it shares PostgreSQL's disk). */
  dirNote: string;
  seconds: number;
  flushes: number;
  p50Ms: number;
  p99Ms: number;
  p99_9Ms: number;
  maxMs: number;
  /** Flushes slower than 10 ms and than 50 ms. */
  over10Ms: number;
  over50Ms: number;
  /** The slowest flushes: when (seconds from the start) and how long. */
  worst: { atSecond: number; ms: number }[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/**
 * Writes 8 kB and flushes it, `gapMs` apart (2 ms: about as often as a busy ledger lane
 * commits), for `seconds` (may be Infinity) or until `signal` aborts, in a file of its own in
 * `dir`, removed at the end (also on error).
 */
export async function probeFlushes(dir: string, seconds: number, dirNote = '', gapMs = 2, signal?: AbortSignal): Promise<FlushReport> {
  if (!(seconds > 0)) throw new Error(`disk probe: seconds must be positive (got ${seconds})`);
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`disk probe: ${dir} is not a directory`);
  const file = join(dir, `cynod-flush-probe-${process.pid}-${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(file, 'wx', 0o600);
  const lat: number[] = [];
  const slow: { atSecond: number; ms: number }[] = [];
  const block = Buffer.alloc(BLOCK, 0x78);
  const start = performance.now();
  const until = start + seconds * 1000;
  try {
    for (let i = 0; performance.now() < until && !signal?.aborted; i++) {
      writeSync(fd, block, 0, BLOCK, (i % BLOCKS) * BLOCK);
      const t0 = performance.now();
      fdatasyncSync(fd);
      const ms = performance.now() - t0;
      lat.push(ms);
      if (ms > STALL_MS[0]) slow.push({ atSecond: Math.round((t0 - start) / 100) / 10, ms: round(ms) });
      if (gapMs > 0) await sleep(gapMs);
    }
  } finally {
    closeSync(fd);
    unlinkSync(file);
  }
  return {
    dir,
    dirNote,
    seconds: round((performance.now() - start) / 1000),
    flushes: lat.length,
    ...percentilesMs(lat),
    over10Ms: lat.filter((x) => x > STALL_MS[0]).length,
    over50Ms: lat.filter((x) => x > STALL_MS[1]).length,
    worst: slow.sort((a, b) => b.ms - a.ms).slice(0, 5),
  };
}

/** One line: the percentiles, the stalls, and where it wrote. */
export function describeFlushes(r: FlushReport): string {
  const worst = r.worst.length ? `; slowest ${r.worst.map((w) => `${w.ms.toFixed(0)} ms at ${w.atSecond} s`).join(', ')}` : '';
  return (
    `disk flush (8 kB + fdatasync, ${r.flushes} in ${r.seconds.toFixed(0)} s): p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)}, ` +
    `p99.9 ${r.p99_9Ms.toFixed(2)}, max ${r.maxMs.toFixed(1)} ms; over 10 ms: ${r.over10Ms}, over 50 ms: ${r.over50Ms}${worst} (${r.dir}${r.dirNote ? `, ${r.dirNote}` : ''})`
  );
}

/**
 * Where to probe: `explicit` when given; else the temporary directory when it is on the
 * device of PostgreSQL's data directory (known when the role may read `data_directory`);
 * else the directory that holds the data directory, when it can be written; else the
 * temporary directory, said to be of unknown relation to PostgreSQL's disk.
 */
export function flushDir(explicit: string | undefined, dataDirectory: string | undefined): { dir: string; note: string } {
  if (explicit) return { dir: explicit, note: 'BENCH_DISK_DIR' };
  const tmp = tmpdir();
  const data = dataDirectory ? statSync(dataDirectory, { throwIfNoEntry: false }) : undefined;
  if (!dataDirectory || !data) return { dir: tmp, note: "PostgreSQL's data directory not readable here: its disk may differ (set BENCH_DISK_DIR)" };
  if (statSync(tmp, { throwIfNoEntry: false })?.dev === data.dev) return { dir: tmp, note: "same device as PostgreSQL's data directory" };
  const parent = dirname(dataDirectory);
  try {
    accessSync(parent, constants.W_OK);
    return { dir: parent, note: "next to PostgreSQL's data directory" };
  } catch {
    return { dir: tmp, note: "not PostgreSQL's device (its directory is not writable here; set BENCH_DISK_DIR)" };
  }
}

interface Queryable {
  query(sql: string): Promise<{ rows: { data_directory?: string }[] }>;
}

/** PostgreSQL's data directory, when this role may read it (superuser or pg_read_all_settings). */
export async function dataDirectoryOf(db: Queryable): Promise<string | undefined> {
  try {
    return (await db.query('SHOW data_directory')).rows[0]?.data_directory;
  } catch {
    return undefined;
  }
}

/** flushDir for the PostgreSQL behind `db`. */
export async function probeDirFor(db: Queryable, explicit?: string): Promise<{ dir: string; note: string }> {
  return flushDir(explicit, await dataDirectoryOf(db));
}

async function main(): Promise<void> {
  const env = parseEnv(
    commonEnv.extend({
      BENCH_DISK_SECONDS: z.coerce.number().positive().max(3600).default(10),
      BENCH_DISK_DIR: z.string().optional(),
    }),
  );
  const pool = createPool({ url: env.DATABASE_URL, max: 1 });
  const { dir, note } = await probeDirFor(pool, env.BENCH_DISK_DIR).finally(() => pool.end());
  const r = await probeFlushes(dir, env.BENCH_DISK_SECONDS, note);
  process.stdout.write(describeFlushes(r) + '\n');
  if (process.env.BENCH_JSON) process.stdout.write(JSON.stringify(r) + '\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e) => {
    process.stderr.write(`bench-disk: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
