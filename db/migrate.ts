/**
 * Versioned SQL migrations: db/migrations/NNN_name.sql, applied in order, each in its own
 * transaction, recorded with a checksum in schema_migrations. An applied migration whose
 * file changed stops the run. A session advisory lock keeps two processes from migrating
 * one schema at once.
 */
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { SCHEMA_RE } from './pool.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

/** The migrations folder: next to this file in the sources, or found from dist/. */
export function migrationsDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const candidate of [join(here, 'migrations'), join(here, '..', '..', 'db', 'migrations')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`db/migrations not found from ${here}`);
}

export function loadMigrations(dir = migrationsDir()): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    const m = /^(\d{3})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) continue;
    const sql = readFileSync(join(dir, file), 'utf8');
    out.push({ version: Number(m[1]), name: m[2], sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  out.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration ${m.version}_${m.name}: versions must run 001, 002, ... without gaps`);
  });
  return out;
}

export interface MigrateResult {
  schema: string;
  applied: string[];
  current: number;
}

/** Creates the schema if needed and applies what is missing. */
export async function migrate(pool: pg.Pool, schema: string, log: (line: string) => void = () => {}): Promise<MigrateResult> {
  if (!SCHEMA_RE.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const migrations = loadMigrations();
  const c = await pool.connect();
  try {
    await c.query('SELECT pg_advisory_lock(hashtext($1))', [`cynod-migrate:${schema}`]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await c.query(`SET search_path TO ${schema}`);
    await c.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map<number, { name: string; checksum: string }>();
    for (const r of (await c.query<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM schema_migrations')).rows) {
      done.set(r.version, r);
    }
    const applied: string[] = [];
    for (const m of migrations) {
      const prior = done.get(m.version);
      if (prior) {
        if (prior.checksum !== m.checksum) {
          throw new Error(`migration ${m.version}_${m.name} was applied with different content; write a new migration instead of editing it`);
        }
        continue;
      }
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
    const known = Math.max(0, ...done.keys());
    if (known > migrations.length) throw new Error(`schema ${schema} is at migration ${known}, newer than this code (${migrations.length})`);
    return { schema, applied, current: migrations.length };
  } finally {
    await c.query('SELECT pg_advisory_unlock(hashtext($1))', [`cynod-migrate:${schema}`]).catch(() => {});
    // search_path stays on the schema: the embedded database (db/embedded.ts) has one session
    // for every connection and ignores startup options, so this is how its pools find the schema.
    c.release();
  }
}
