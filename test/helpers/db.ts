/**
 * A PostgreSQL schema of its own for a test file: created and migrated on demand,
 * dropped at teardown. Uses DATABASE_URL (default: the machine's local server).
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { createPool } from '../../db/pool.js';
import { migrate } from '../../db/migrate.js';
import type { TestContext } from './tap.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDb {
  url: string;
  schema: string;
  pool: pg.Pool;
}

export function testSchemaName(prefix = 't'): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export async function testDb(t: TestContext, opts: { max?: number; connectionTimeoutMillis?: number } = {}): Promise<TestDb> {
  const schema = testSchemaName();
  const admin = createPool({ url: DATABASE_URL, max: 1 });
  try {
    await migrate(admin, schema);
  } finally {
    await admin.end();
  }
  const pool = createPool({ url: DATABASE_URL, schema, max: opts.max ?? 10, name: 'cynod-test', connectionTimeoutMillis: opts.connectionTimeoutMillis });
  t.teardown(async () => {
    await pool.end();
    const drop = createPool({ url: DATABASE_URL, max: 1 });
    await drop.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await drop.end();
  });
  return { url: DATABASE_URL, schema, pool };
}

/**
 * A query in `schema` for a pool whose connections are not set to it (a migration test's): each
 * call takes a connection, sets its search_path, runs the statement.
 */
export function queryIn(pool: pg.Pool, schema: string): (sql: string, params?: unknown[]) => Promise<pg.QueryResult> {
  return async (sql, params = []) => {
    const c = await pool.connect();
    try {
      await c.query(`SET search_path TO ${schema}`);
      return await c.query(sql, params);
    } finally {
      c.release();
    }
  };
}
