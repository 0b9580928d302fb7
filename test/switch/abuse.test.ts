// Abuse end to end over TCP, each with its safe outcome asserted: a card and a transaction
// code in one message; guessing transaction codes past the threshold.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { HASH_SECRET, TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import * as store from '../../db/store.js';
import { buildDe48, type IsoFields, type IsoMessage } from '../../protocol/index.js';

const SP = 'PS_SENOSOFT    ';

t.test('abuse', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db, { HASH_SECRET, CODE_GUESS_LIMIT: '3', CODE_GUESS_BLOCK_SECONDS: '600' });
  const term = await TestTerminal.signedOn(sw.port, w.terminal);
  t.teardown(() => term.close());
  const tx = (fields: IsoFields): IsoMessage => ({
    mti: '0200',
    fields: { 3: '000000', 4: '000000001000', 7: de7(), 11: nextStan(), 41: w.terminal, 42: SP, 49: '952', ...fields },
  });
  const journalRows = async (): Promise<number> =>
    (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM journal WHERE terminal_id = $1', [w.terminal])).rows[0].n;

  t.test('a card and a transaction code in one message: 30, nothing charged, the code still unused', async (t) => {
    const card = await w.card(10_000);
    const owner = await w.card(10_000);
    const code = await store.createTransactionCode(db.pool, { cardId: owner.id, amountMax: 5_000, ttlSeconds: 600, secret: HASH_SECRET });
    const rows = await journalRows();
    for (const cardFields of [{ 2: card.pan, 14: card.expiry }, { 35: `${card.pan}=99121010000` }]) {
      const r = await term.send(tx({ ...cardFields, 22: '012', 48: buildDe48({ SV: 'FUEL', TC: code.code }) }));
      t.equal(r.fields[39], '30', `DE${Object.keys(cardFields)[0]} and DE48 TC: format error`);
    }
    t.equal(await journalRows(), rows, 'no journal row');
    t.same([(await store.getCard(db.pool, card.id)).balance, (await store.getCard(db.pool, owner.id)).balance], [10_000, 10_000], 'neither card charged');
    t.equal((await term.send(tx({ 22: '012', 48: buildDe48({ SV: 'FUEL', TC: code.code }) }))).fields[39], '00', 'the code alone still pays');
    t.equal((await store.getCard(db.pool, owner.id)).balance, 9_000, "... from its card's balance");
  });

  t.test('guessing codes: past the threshold the terminal\'s code redemptions get 75, others are served', async (t) => {
    const owner = await w.card(10_000);
    const code = await store.createTransactionCode(db.pool, { cardId: owner.id, amountMax: 5_000, ttlSeconds: 600, secret: HASH_SECRET });
    const guesser = await TestTerminal.signedOn(sw.port, w.terminal2);
    t.teardown(() => guesser.close());
    const redeem = (terminalId: string, merchant: string, c: string): IsoMessage => tx({ 22: '012', 41: terminalId, 42: merchant, 48: buildDe48({ SV: 'FUEL', TC: c }) });
    const before = await (await fetch(`http://127.0.0.1:${sw.metricsPort}/metrics`)).text();
    for (const guess of ['1111111111', '2222222222', '3333333333']) {
      t.equal((await guesser.send(redeem(w.terminal2, SP, guess))).fields[39], '14', `a guess: 14`);
    }
    const after = await (await fetch(`http://127.0.0.1:${sw.metricsPort}/metrics`)).text();
    const blocks = (m: string): number => Number(/^switch_code_guess_blocks_total ([0-9]+)$/m.exec(m)?.[1] ?? 0);
    t.equal(blocks(after), blocks(before) + 1, 'counted in switch_code_guess_blocks_total');
    t.equal((await guesser.send(redeem(w.terminal2, SP, code.code))).fields[39], '75', 'then even the right code: 75');
    t.equal((await guesser.send(tx({ 2: owner.pan, 14: owner.expiry, 4: '000000000100', 41: w.terminal2 }))).fields[39], '00', 'its card payments are not blocked');
    t.equal((await term.send(redeem(w.terminal, SP, code.code))).fields[39], '00', 'another terminal redeems the code');
    t.equal((await store.getCard(db.pool, owner.id)).balance, 8_900, 'the card payment and the code, nothing else');
  });
});
