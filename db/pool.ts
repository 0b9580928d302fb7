/**
 * PostgreSQL connections. Every connection of a pool works in one schema (search_path),
 * so tests can each migrate a schema of their own and run side by side.
 */
import pg from 'pg';
import { PLANNER_SETTINGS } from './ledger/sql.js';

// int8 (bigint, bigserial) as JS numbers: ids and amounts in minor units stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`int8 ${v} is beyond 2^53`);
  return n;
});

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

export interface PoolOptions {
  url: string;
  schema?: string;
  max?: number;
  /** Application name shown in pg_stat_activity. */
  name?: string;
  connectionTimeoutMillis?: number;
  statementTimeoutMillis?: number;
  /**
   * The connections serve the ledger alone: they start with its planner settings
   * (db/ledger/sql.ts PLANNER_SETTINGS), which its batches then need not set.
   */
  ledger?: boolean;
  /**
   * A connection idle this long is closed (default 30 s); 0 keeps it. The switch keeps its own:
   * a new connection plans the ledger's prepared statements at its first batch (tens of ms
   * against a few warm), and a pool that shrinks in a quiet spell and grows again in a burst
   * would make the ledger pay that again and again.
   */
  idleTimeoutMillis?: number;
}

export const SCHEMA_RE = /^[a-z_][a-z0-9_]{0,62}$/;

export function createPool(o: PoolOptions): pg.Pool {
  const schema = o.schema ?? 'public';
  if (!SCHEMA_RE.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const options = [`-c search_path=${schema}`];
  if (o.statementTimeoutMillis) options.push(`-c statement_timeout=${o.statementTimeoutMillis}`);
  if (o.ledger) for (const [n, v] of PLANNER_SETTINGS) options.push(`-c ${n}=${v}`);
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max ?? 10,
    application_name: o.name ?? 'cynod',
    options: options.join(' '),
    connectionTimeoutMillis: o.connectionTimeoutMillis ?? 5000,
    idleTimeoutMillis: o.idleTimeoutMillis ?? 30000,
  });
  // An idle client's error (server restart) must not crash the process; the pool replaces it.
  pool.on('error', () => {});

  return pool;
}

/** Runs fn in a transaction on one connection; rolls back on error. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    c.release();
  }
}
