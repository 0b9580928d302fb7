/**
 * The schema of a database schema (search_path), kept up to date by one runner:
 *
 * - Versioned SQL migrations: db/migrations/NNN_name.sql, applied in order, each in its own
 *   transaction, recorded with a checksum in schema_migrations. An applied migration whose
 *   file changed stops the run; so does a schema at a migration newer than the code.
 * - SQL functions: db/functions.sql, every function of the schema written with CREATE OR
 *   REPLACE, applied in a transaction and recorded with its checksum in schema_functions,
 *   re-applied whenever its checksum differs. A function is edited in place there, not copied
 *   whole into a new migration at every change.
 *
 * A session advisory lock per schema keeps two processes from migrating one schema at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { SCHEMA_RE } from './pool.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface FunctionsFile {
  /** Its key in schema_functions: the file's name. */
  name: string;
  sql: string;
  checksum: string;
}

/** A file or folder of db/: next to this file in the sources, or found from dist/. */
function dbPath(entry: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, entry), join(here, '..', '..', 'db', entry)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`db/${entry} not found from ${here}`);
}

/** The migrations folder. */
export function migrationsDir(): string {
  return dbPath('migrations');
}

/** The file of SQL functions. */
export function functionsFile(): string {
  return dbPath('functions.sql');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) continue;
    const sql = readFileSync(join(dir, file), 'utf8');
    out.push({ version: Number(m[1]), name: m[2], sql, checksum: sha256(sql) });
  }
  out.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.version}_${m.name}: versions must run 001, 002, ... without gaps`);
  });
  return out;
}

export function loadFunctions(file = functionsFile()): FunctionsFile {
  const sql = readFileSync(file, 'utf8');
  return { name: basename(file), sql, checksum: sha256(sql) };
}

/**
 * The migrations that 001_baseline replaced (version 0.1.0, before anything was deployed).
 * A schema they built has no upgrade path: its schema_migrations rows would otherwise read as
 * an edited migration 1 and a schema newer than the code.
 */
const PRE_BASELINE = new Map<number, string>([
  [1, 'core'],
  [2, 'ledger'],
  [3, 'ledger_guards'],
  [4, 'ledger_post_cost'],
  [5, 'journal_counter_card'],
  [6, 'ledger_post_entries_in_journal'],
  [7, 'ledger_post_lookups_per_item'],
]);

export interface MigrateOptions {
  /** The migrations folder (default: db/migrations). */
  migrationsDir?: string;
  /** The functions file (default: db/functions.sql). */
  functionsFile?: string;
}

export interface MigrateResult {
  schema: string;
  applied: string[];
  /** Whether the functions file was (re-)applied: new schema, or its checksum changed. */
  functions: boolean;
  current: number;
}

/** Creates the schema if needed, applies the functions file if it changed, and the migrations that are missing. */
export async function migrate(
  pool: pg.Pool,
  schema: string,
  log: (line: string) => void = () => {},
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  if (!SCHEMA_RE.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const migrations = loadMigrations(opts.migrationsDir);
  const functions = loadFunctions(opts.functionsFile);
  const c = await pool.connect();
  try {
    await c.query('SELECT pg_advisory_lock(hashtext($1))', [`cynod-migrate:${schema}`]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query(`SET search_path TO ${schema}`);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_functions (
      name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map<number, { name: string; checksum: string }>();
    for (const r of (await c.query<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM schema_migrations')).rows) {
      done.set(r.version, r);
    }

    // Everything that stops the run is checked before anything is applied: the functions file
    // of older code must not overwrite a newer schema's functions.
    if ([...done].some(([version, r]) => PRE_BASELINE.get(version) === r.name)) {
      throw new Error(
        `schema ${schema} was built by the migrations before 001_baseline (001_core ... 007_ledger_post_lookups_per_item), ` +
          `which 0.1.0 replaced by one baseline with no upgrade path: drop the schema (make demo-reset, or ` +
          `DROP SCHEMA ${schema} CASCADE) and migrate again`,
      );
    }
    const known = Math.max(0, ...done.keys());
    if (known > migrations.length) throw new Error(`schema ${schema} is at migration ${known}, newer than this code (${migrations.length})`);
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (prior && prior.checksum !== m.checksum) {
        throw new Error(`migration ${m.version}_${m.name} was applied with different content; write a new migration instead of editing it`);
      }
    }

    // Functions first, then migrations: the baseline's triggers (and any later default, view or
    // index that calls a function) need their functions to exist, and a migration may rely on a
    // function's new version. The functions do not need the tables: a PL/pgSQL body is resolved
    // when it runs, not when it is created. (A LANGUAGE sql body is checked at creation, so a
    // function here that reads a table is written in PL/pgSQL, or it fails on a new schema.)
    let functionsApplied = false;
    const prior = (await c.query<{ checksum: string }>('SELECT checksum FROM schema_functions WHERE name = $1', [functions.name])).rows[0];
    if (prior?.checksum !== functions.checksum) {
      await c.query('BEGIN');
      try {
        await c.query(functions.sql);
        await c.query(
          `INSERT INTO schema_functions (name, checksum) VALUES ($1, $2)
           ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`,
          [functions.name, functions.checksum],
        );
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK');
        throw new Error(`${functions.name} failed: ${(e as Error).message}`);
      }
      functionsApplied = true;
      log(`applied ${functions.name}${prior ? ' (changed)' : ''}`);
    }

    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await c.query('BEGIN');
      try {
        await c.query(m.sql);
        await c.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
        await c.query('COMMIT');
      } catch (e) {
        await c.query('ROLLBACK');
        throw new Error(`migration ${m.version}_${m.name} failed: ${(e as Error).message}`);
      }
      applied.push(`${m.version}_${m.name}`);
      log(`applied migration ${m.version}_${m.name}`);
    }
    return { schema, applied, functions: functionsApplied, current: migrations.length };
  } finally {
    await c.query('SELECT pg_advisory_unlock(hashtext($1))', [`cynod-migrate:${schema}`]).catch(() => {});
    // search_path stays on the schema: the embedded database (tools/embedded-postgres.ts) has one session
    // for every connection and ignores startup options, so this is how its pools find the schema.
    c.release();
  }
}
