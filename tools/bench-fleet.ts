/**
 * The load-test data of the benchmarks and the CI check: a schema dropped, migrated and seeded
 * with a fleet: cards with large balances and cardholder PINs (their profile requires one),
 * terminals already initialised, each with its master key and working keys, so that the load
 * MACs every message and enciphers every PIN, and the switch verifies both. The keys are 3DES
 * (retail MAC, format 0 PIN blocks in DE52) unless AES is asked for (AES-CMAC, format 4 in DE48 PB).
 */
import type pg from 'pg';
import { createPool } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { seedDemo, type SeedResult } from '../backoffice/seed.js';
import { DEV_HASH_SECRET } from '../db/config.js';
import { DEVELOPMENT_KEK } from '../db/kek.js';
import { PanVault } from '../db/pan-vault.js';
import type { KeyAlgorithm } from '../protocol/security/index.js';

export interface FleetSize {
  cards: number;
  servicePoints: number;
  terminalsPerServicePoint: number;
}

/** `make bench` and `make bench-ledger`: 10,000 cards, 100 service points, 500 terminals. */
export const BENCH_FLEET: FleetSize = { cards: 10_000, servicePoints: 100, terminalsPerServicePoint: 5 };

export async function dropSchema(url: string, schema: string): Promise<void> {
  const admin = createPool({ url, max: 1 });
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.end();
  }
}

/**
 * A fresh `schema` with the fleet; the pool (search_path on it) is the caller's to end. Its PANs
 * are keyed with the development HASH_SECRET (and sealed under the development KEK), which the
 * benchmarks serve it with (CYNOD_DEV=1).
 */
export async function seedFreshSchema(url: string, schema: string, size: FleetSize, poolMax: number, keys: KeyAlgorithm = 'tdes'): Promise<{ pool: pg.Pool; seeded: SeedResult }> {
  const admin = createPool({ url, max: 1 });
  try {
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await migrate(admin, schema);
  } finally {
    await admin.end();
  }
  const pool = createPool({ url, schema, max: poolMax });
  const seeded = await seedDemo(pool, new PanVault(DEVELOPMENT_KEK, DEV_HASH_SECRET), {
    ...size,
    balance: 1_000_000_000,
    pins: false,
    initializeTerminals: true,
    terminalKeys: { kek: DEVELOPMENT_KEK, algorithm: keys },
    cardPins: { secret: DEV_HASH_SECRET },
  });
  await settle(pool);
  return { pool, seeded };
}

/**
 * Vacuums and analyzes the seeded schema's tables, as autovacuum does on a live system within
 * a minute of such a load. Seeding writes each card twice (its PIN is set after the insert), which
 * leaves 10,000 dead card rows; with autovacuum off, as on the benchmark machines, every
 * lookup of a card by its key then stepped over a dead index entry and a dead row, and the
 * benchmarks measured a table no running network has (`make bench-ledger`, batches of 100, three
 * alternating runs: PostgreSQL CPU 60-71 µs per purchase without, 45-54 with).
 */
async function settle(pool: pg.Pool): Promise<void> {
  // the schema's own tables only: a database-wide VACUUM would also walk every other schema
  const r = await pool.query<{ name: string }>(`SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1`);
  if (r.rows.length > 0) await pool.query(`VACUUM (ANALYZE) ${r.rows.map((t) => t.name).join(', ')}`);
}
