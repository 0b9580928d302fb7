import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { checkLedger } from '../../db/check.js';
import { getCard } from '../../db/store.js';

t.test('smoke: a purchase moves money from the card to the virtual card', async (t) => {
  const { pool } = await testDb(t);
  const w = await makeWorld(pool);
  const card = await w.card(10000);
  const [r] = await w.ledger.post([
    { op: 'purchase', source: 'terminal', terminalId: w.terminal, stan: '000001', transmissionAt: '1127101500', cardId: card.id, servicePointId: w.sp.id, amount: 2500, currency: '952', service: 'fuel', requestHash: 'ab' },
  ]);
  t.equal(r.outcome, 'approved');
  t.equal(r.available, 7500);
  t.equal((await getCard(pool, card.id)).balance, 7500);
  t.equal((await getCard(pool, w.virtualCard.id)).balance, 2500);
  const check = await checkLedger(pool);
  t.ok(check.ok, JSON.stringify(check));
});
