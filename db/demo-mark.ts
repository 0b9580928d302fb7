/**
 * Which schemas `make demo-reset` and `seed --reset` may drop: a schema the demo or the seed
 * made (marked with a comment when they seed it), an empty one, or any with `--yes`. A schema
 * holding data that they did not make — a production switch's — is refused: dropping it would
 * take the ledger with it.
 */
import type pg from 'pg';
import { ConfigError } from './config.js';

/** The demo's own schema and cache prefix, when DB_SCHEMA and REDIS_PREFIX are not set. */
export const DEMO_SCHEMA = 'cynod_demo';
export const DEMO_PREFIX = 'cynod_demo:';

const MARK = 'cynod demo data: make demo-reset and seed --reset may drop it';

type Db = Pick<pg.Pool, 'query'>;

/** `schema` is DB_SCHEMA, validated as an identifier by the configuration. */
export async function markDemoSchema(db: Db, schema: string): Promise<void> {
  await db.query(`COMMENT ON SCHEMA ${schema} IS '${MARK}'`);
}

/** Throws a ConfigError when `schema` holds clients or cards that the demo or the seed did not make, unless `yes`. */
export async function refuseForeignDataDrop(db: Db, schema: string, yes: boolean): Promise<void> {
  if (yes) return;
  const r = await db.query<{ mark: string | null; tables: boolean }>(
    `SELECT obj_description(n.oid, 'pg_namespace') AS mark, to_regclass($2) IS NOT NULL AND to_regclass($3) IS NOT NULL AS tables
     FROM pg_namespace n WHERE n.nspname = $1`,
    [schema, `${schema}.clients`, `${schema}.cards`],
  );
  const s = r.rows[0];
  if (s === undefined || s.mark === MARK || !s.tables) return;
  const data = await db.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${schema}.clients) OR EXISTS (SELECT 1 FROM ${schema}.cards) AS any`);
  if (data.rows[0].any) {
    throw new ConfigError([`DB_SCHEMA: the schema ${schema} holds clients or cards that make demo and seed did not make: refusing to drop it (give --yes to drop it all the same)`]);
  }
}
