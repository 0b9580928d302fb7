/**
 * What every file of db/store/ shares: the connection type, the refusals the caller can show
 * (StoreError) and the query helpers that raise them. db/store.ts re-exports only Db,
 * StoreError, StoreErrorKind and Page; the helpers stay inside db/store/.
 */
import type pg from 'pg';
import { inTransaction } from '../pool.js';

export type Db = pg.Pool | pg.PoolClient;

export type StoreErrorKind = 'not_found' | 'conflict' | 'invalid';

/** A refusal the caller can show as is (404, 409, 422). */
export class StoreError extends Error {
  constructor(
    readonly kind: StoreErrorKind,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'StoreError';
  }
}

/** Translates constraint violations into StoreErrors; rethrows anything else. */
export function pgError(e: unknown, what: string): never {
  const err = e as { code?: string; constraint?: string; detail?: string };
  if (err.code === '23505') throw new StoreError('conflict', `${what} already exists${err.detail ? `: ${err.detail}` : ''}`, err.constraint);
  if (err.code === '23503') throw new StoreError('invalid', `${what} refers to something that does not exist${err.detail ? `: ${err.detail}` : ''}`, err.constraint);
  if (err.code === '23514') throw new StoreError('invalid', `${what} is not valid (${err.constraint ?? 'check'})`, err.constraint);
  throw e;
}

export async function one<T extends pg.QueryResultRow>(db: Db, what: string, sql: string, params: unknown[]): Promise<T> {
  try {
    const r = await db.query<T>(sql, params);
    if (r.rows.length === 0) throw new StoreError('not_found', `${what} not found`);
    return r.rows[0];
  } catch (e) {
    if (e instanceof StoreError) throw e;
    pgError(e, what);
  }
}

export function inTx<T>(db: Db, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  return 'totalCount' in db ? inTransaction(db, fn) : fn(db); // a client: the caller owns the transaction
}

/** A window of a list, newest or lowest id first as each list says. */
export interface Page {
  limit: number;
  offset: number;
}

export async function many<T extends pg.QueryResultRow>(db: Db, sql: string, params: unknown[]): Promise<T[]> {
  return (await db.query<T>(sql, params)).rows;
}
