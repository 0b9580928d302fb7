/**
 * seedDemo: the invariants of the demo world, and its scale (10,000 cards, 100 service
 * points, 500 terminals) within the ~20 s budget.
 */
import t from 'tap';
import * as store from '../../db/store.js';
import { checkLedger } from '../../db/check.js';
import { seedDemo } from '../../backoffice/seed.js';
import { PanVault } from '../../db/pan-vault.js';
import { testDb } from '../helpers/db.js';
import { HASH_SECRET, KEK } from '../helpers/switch.js';

const vault = new PanVault(KEK, HASH_SECRET);

t.test('at scale: 10,000 cards, 100 service points, 500 terminals', async (t) => {
  const { pool } = await testDb(t);
  const started = Date.now();
  const s = await seedDemo(pool, vault, { cards: 10_000, servicePoints: 100, terminalsPerServicePoint: 5 });
  const ms = Date.now() - started;
  t.ok(ms < 20_000, `seeded in ${ms} ms (budget 20 s)`);
  t.equal(s.cards.length, 10_000);
  t.equal(s.servicePoints.length, 100);
  t.same(s.servicePoints.slice(0, 3).map((sp) => sp.code), ['PS_SENOSOFT', 'PS_0002', 'PS_0003']);
  t.equal(s.servicePoints[99].code, 'PS_0100');
  t.equal(new Set(s.servicePoints.flatMap((sp) => sp.terminals.map((x) => x.id))).size, 500, '500 distinct terminals');
  t.notOk(s.servicePoints[0].terminals[0].pin, 'no PINs at scale unless asked (scrypt is slow on purpose)');

  const counts = (
    await pool.query<{ cards: number; accounts: number; sps: number; terminals: number; virtuals: number; recharges: number; distinct_accounts: number }>(
      `SELECT (SELECT count(*) FROM cards WHERE NOT is_virtual)::int AS cards,
              (SELECT count(*) FROM accounts WHERE kind IN ('card', 'service_point'))::int AS accounts,
              (SELECT count(DISTINCT account_id) FROM cards)::int AS distinct_accounts,
              (SELECT count(*) FROM service_points)::int AS sps,
              (SELECT count(*) FROM terminals)::int AS terminals,
              (SELECT count(*) FROM cards WHERE is_virtual AND name = 'C_VIRT_' || (SELECT code FROM service_points s WHERE s.id = service_point_id))::int AS virtuals,
              (SELECT count(*) FROM journal WHERE op = 'recharge' AND outcome = 'approved')::int AS recharges`,
    )
  ).rows[0];
  t.same(counts, { cards: 10_000, accounts: 10_100, distinct_accounts: 10_100, sps: 100, terminals: 500, virtuals: 100, recharges: 10_000 }, 'every card its own account; one C_VIRT_ card per service point; one recharge per card');
  const check = await checkLedger(pool);
  t.ok(check.ok, 'balances equal their ledger entries');
  t.equal(check.entries, 20_000);
  const virtualized = await pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM cards c JOIN card_profiles p ON p.id = c.profile_id WHERE NOT p.fuel AND NOT p.dotation AND NOT p.ticket AND p.transfer AND p.recharge AND p.kind = 'standard'`,
  );
  t.equal(virtualized.rows[0].n, 1, 'one card virtualized');
});

t.test('defaults: ELTON, PS_SENOSOFT with 2 terminals and their PINs, 5 cards', async (t) => {
  const { pool } = await testDb(t);
  const s = await seedDemo(pool, vault);
  t.equal(s.client.code, 'ELTON');
  t.equal(s.servicePoints.length, 1);
  t.equal(s.servicePoints[0].virtualCard.name, 'C_VIRT_PS_SENOSOFT');
  t.equal(s.servicePoints[0].terminals.length, 2);
  for (const term of s.servicePoints[0].terminals) {
    t.equal(await store.consumeTerminalPin(pool, term.id, term.pin ?? ''), 'ok', `terminal ${term.id} initialises with its printed PIN`);
  }
  t.equal(s.cards.length, 5);
  t.equal(s.virtualizedCardId, s.cards[4].id);
  for (const c of [...s.cards, s.servicePoints[0].virtualCard]) {
    const card = await store.getCardByPan(pool, vault, c.pan);
    t.equal(card.id, c.id, `card ${c.id} found by its PAN (sealed and keyed in the bulk insert)`);
    t.equal(card.panMasked, `${c.pan.slice(0, 6)}${'*'.repeat(c.pan.length - 10)}${c.pan.slice(-4)}`);
  }
  const stored = await pool.query<{ pan_key: Buffer; pan_sealed: Buffer }>('SELECT pan_key, pan_sealed FROM cards WHERE id = $1', [s.cards[0].id]);
  t.equal(vault.open(stored.rows[0].pan_sealed, stored.rows[0].pan_key), s.cards[0].pan, 'the sealed PAN opens to the printed one');
  const fuel = await store.getProfile(pool, s.profiles.fuel.id);
  t.ok(fuel.fuel && fuel.recharge && fuel.transfer, 'the fuel profile');
  t.equal((await store.getProfile(pool, s.profiles.virtualCard.id)).kind, 'virtual', 'the virtual-card profile');
  t.ok(store.isVirtualizationProfile(await store.getProfile(pool, s.profiles.virtualization.id)), 'the virtualization profile');
  const sp = await store.getServicePointByCode(pool, 'PS_SENOSOFT');
  t.equal(sp.virtual_card_id, s.servicePoints[0].virtualCard.id, 'PS_SENOSOFT can take transactions');

  const second = await seedDemo(pool, vault).then(
    () => null,
    (e: unknown) => e,
  );
  t.ok(second instanceof store.StoreError && second.kind === 'conflict', 'a second seed in the same schema is refused');
  await t.rejects(seedDemo(pool, vault, { servicePoints: 0 }), RangeError, 'bad options are refused');
});
