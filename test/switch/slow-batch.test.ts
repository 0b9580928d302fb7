// LEDGER_SLOW_MS: a ledger batch held up (here by a lock another session keeps on the service
// point's account) is logged with its size and time, once it commits; a bad value is refused.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { spawnSwitch } from '../helpers/process.js';
import { loadSwitchConfig } from '../../switch/config.js';
import { KEK_HEX } from '../helpers/switch.js';
import { Terminal } from '../../terminal-sim/terminal.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('a batch that waited on a lock is logged as slow, with items and ms, and still approves', async (t) => {
  const db = await testDb(t, { max: 3 });
  const w = await makeWorld(db.pool);
  const card = await w.card(100_000);
  await db.pool.query('UPDATE terminals SET initialized_at = now() WHERE id = $1', [w.terminal]);
  const sw = await spawnSwitch(t, { DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:`, LEDGER_SLOW_MS: '150' });
  const term = await Terminal.connect({ port: sw.port, terminalId: w.terminal, servicePoint: 'PS_SENOSOFT', initialized: true, timeoutMs: 5000 });
  t.teardown(() => term.close());

  // One purchase first, unhindered: caches warm, nothing held.
  t.equal((await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 100 })).code, '00');

  // Another session holds the service point's account (the purchase credits it) for 500 ms.
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [w.virtualCard.account_id]);
    const purchase = term.purchase({ pan: card.pan, expiry: card.expiry, amount: 250 });
    await sleep(500);
    await holder.query('COMMIT');
    const tx = await purchase;
    t.equal(tx.code, '00', 'approved once the lock was released');
  } finally {
    holder.release();
  }
  await sleep(200);
  const slow = sw.logs.filter((l) => l.includes('"msg":"slow ledger batch"')).map((l) => JSON.parse(l) as { level: number; items: number; ms: number });
  t.ok(slow.length >= 1, 'logged');
  const held = slow.find((s) => s.ms >= 400);
  t.ok(held, `one of them waited the lock out (${JSON.stringify(slow)})`);
  t.equal(held?.items, 1, 'with its size');
  t.equal(held?.level, 40, 'at warn');
  t.notOk(slow.some((s) => JSON.stringify(s).includes(card.pan)), 'no PAN in the line');
});

t.test('LEDGER_SLOW_MS: a clear error for a bad value; 0 (off) and the default parse', async (t) => {
  const base = { DATABASE_URL: 'postgres://x@127.0.0.1/test', HASH_SECRET: 'test-hash-secret-0123456789', KEY_ENCRYPTION_KEY: KEK_HEX };
  t.throws(() => loadSwitchConfig({ ...base, LEDGER_SLOW_MS: 'fast' }), /LEDGER_SLOW_MS/);
  t.throws(() => loadSwitchConfig({ ...base, LEDGER_SLOW_MS: '-1' }), /LEDGER_SLOW_MS/);
  t.equal(loadSwitchConfig({ ...base, LEDGER_SLOW_MS: '0' }).env.LEDGER_SLOW_MS, 0);
  t.equal(loadSwitchConfig(base).env.LEDGER_SLOW_MS, 200, 'default');
});

t.test('LEDGER_GATHER_MS and LEDGER_GATHER_ITEMS: a batch of four, at most 4 ms, by default; bad values refused', async (t) => {
  const base = { DATABASE_URL: 'postgres://x@127.0.0.1/test', HASH_SECRET: 'test-hash-secret-0123456789', KEY_ENCRYPTION_KEY: KEK_HEX };
  const d = loadSwitchConfig(base).env;
  t.same([d.LEDGER_GATHER_MS, d.LEDGER_GATHER_ITEMS], [4, 4], 'defaults');
  t.equal(loadSwitchConfig({ ...base, LEDGER_GATHER_ITEMS: '32' }).env.LEDGER_GATHER_ITEMS, 32);
  t.throws(() => loadSwitchConfig({ ...base, LEDGER_GATHER_ITEMS: '0' }), /LEDGER_GATHER_ITEMS/, 'a batch leaves with one item at least');
  t.throws(() => loadSwitchConfig({ ...base, LEDGER_GATHER_ITEMS: 'many' }), /LEDGER_GATHER_ITEMS/);
});
