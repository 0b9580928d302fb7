// Regression, over TCP against a running switch: a purchase P refunded once however often a
// reversal of it rides in one ledger batch with a duplicate of P.
//
// Seen by a user: a terminal signed on normally, an approved purchase P of 1,000, then, written
// in one TCP write, a balance inquiry, the exact bytes of P again (a duplicate) and a 0400
// reversal of P; five times, each with a new reversal STAN. P must be refunded once (available
// 48,900 -> 49,900). The ledger of migration 007 refunded it in every round (53,900): a reversal
// that finds its original among the earlier items of its batch took the duplicate's item for
// P (the duplicate is the first item of the batch with P's key), so it undid the duplicate,
// which had never moved anything, and the next round did it again.
//
// How the test makes the duplicate and the reversal ride in one batch: the three frames go out
// in one write, so the switch decodes them in one 'data' event and starts their handlers in
// order in the same turn of the event loop. After P, the terminal, its service point, the card
// and its profile are in the switch's near cache, so each handler reaches the ledger batcher
// without waiting on Redis or PostgreSQL, in arrival order, on the one lane of the terminal's
// service point. The inquiry finds the lane idle and leaves alone as a batch; the duplicate and
// the reversal queue behind it (one batch in flight per lane) and leave together as the next
// batch, the duplicate first. The journal shows it: the two rows share one created_at (the
// ledger stamps a batch's rows with one time) and have consecutive ids.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { TestTerminal, nextStan, testSwitch } from '../helpers/switch.js';
import { checkLedger } from '../../db/check.js';
import { issueTerminalPin } from '../../db/store.js';
import * as store from '../../db/store.js';
import { buildDe48, parseDe54 } from '../../protocol/index.js';
import { build, cardFields, originalField, saleFields, type Trace } from '../../terminal-sim/messages.js';

const ROUNDS = 5;
const AMOUNT = 1_000;
const FUNDED = 49_900;

t.test('a duplicate of P and a reversal of P in one write, five times: P refunded once', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  // The grouping below rests on the near cache answering every lookup after P (kept for the
  // whole test) and on one batch in flight per lane (no overflow batch beside it).
  const sw = await testSwitch(t, db, { NEAR_CACHE_TTL_MS: '3600000', LEDGER_CONCURRENCY: '1', LEDGER_OVERFLOW_AT: '0' });
  const card = await w.card(FUNDED);
  const term = await TestTerminal.connect(sw.port);
  t.teardown(() => term.close());
  const trace = (): Trace => ({ terminalId: w.terminal, servicePoint: w.sp.code, stan: nextStan(), at: new Date() });
  const available = async (cardId: number): Promise<number> => {
    const c = await store.getCard(db.pool, cardId);
    return c.balance - c.held;
  };

  // Signed on normally: the security PIN issued by the back office, then a 0800 sign-on.
  const { pin } = await issueTerminalPin(db.pool, w.terminal, 600);
  const signOn = await term.send(build('signOn', trace(), { 48: buildDe48({ SP: pin }) }));
  t.equal(signOn.fields[39], '00', 'terminal signed on');

  const v0 = (await store.getCard(db.pool, w.virtualCard.id)).balance;
  const p = build('purchase', trace(), saleFields({ pan: card.pan, expiry: card.expiry, amount: AMOUNT }));
  const pBytes = term.frame(p); // the exact bytes of P, written again as the duplicate
  const pAnswer = term.answerTo(p);
  term.write(pBytes);
  const pa = await pAnswer;
  t.equal(pa.fields[39], '00', 'P approved');
  t.equal(await available(card.id), FUNDED - AMOUNT, 'P charged: 48,900 available');
  const pRow = (await db.pool.query<{ id: string }>("SELECT id FROM journal WHERE terminal_id = $1 AND stan = $2 AND duplicate_of IS NULL", [w.terminal, p.fields[11]])).rows[0];
  const pId = Number(pRow.id);

  for (let round = 1; round <= ROUNDS; round++) {
    const inquiry = build('inquiry', trace(), cardFields(card.pan, card.expiry));
    const reversal = build('reversal', trace(), {
      4: p.fields[4],
      90: originalField({ mti: p.mti, stan: String(p.fields[11]), transmissionDateTime: String(p.fields[7]) }),
    });
    const answers = [term.answerTo(inquiry), term.answerTo(p), term.answerTo(reversal)];
    term.write(Buffer.concat([term.frame(inquiry), pBytes, term.frame(reversal)]));
    const [inq, dup, rev] = await Promise.all(answers);
    t.equal(inq.fields[39], '00', `round ${round}: inquiry answered 00`);
    t.ok(parseDe54(String(inq.fields[54])).length > 0, `round ${round}: inquiry gives a balance`);
    t.same([dup.fields[39], dup.fields[38]], [pa.fields[39], pa.fields[38]], `round ${round}: the duplicate gets P's answer`);
    t.equal(rev.fields[39], '00', `round ${round}: reversal answered 00`);

    // The duplicate and the reversal were posted in one batch (the grouping this test is about).
    const rows = (
      await db.pool.query<{ id: string; op: string; duplicate_of: string | null; created_at: Date }>(
        `SELECT id, op, duplicate_of, created_at FROM journal
         WHERE terminal_id = $1 AND ((stan = $2 AND duplicate_of IS NOT NULL) OR stan = $3) ORDER BY id DESC LIMIT 2`,
        [w.terminal, p.fields[11], reversal.fields[11]],
      )
    ).rows.reverse();
    t.same(rows.map((r) => [r.op, r.duplicate_of === null ? null : Number(r.duplicate_of)]), [['purchase', pId], ['reversal', null]], `round ${round}: the duplicate's row, then the reversal's`);
    t.equal(Number(rows[1].id), Number(rows[0].id) + 1, `round ${round}: consecutive journal ids`);
    t.equal(rows[1].created_at.getTime(), rows[0].created_at.getTime(), `round ${round}: one batch (one created_at)`);
  }

  t.equal(await available(card.id), FUNDED, 'P refunded exactly once: 49,900 available, as before P');
  t.equal((await store.getCard(db.pool, w.virtualCard.id)).balance, v0, 'the virtual card gave P back once');
  const check = await checkLedger(db.pool);
  t.ok(check.ok, 'ledger check');
  if (!check.ok) t.comment(JSON.stringify(check.checks?.filter((c) => !c.ok) ?? check));
});
