// Terminal sessions end to end over TCP: a terminal's transactions are accepted only on a
// connection where it has signed on, every later message there carries its DE41 (another one
// gets 58 and the connection is closed), sign-off ends the session, an echo needs none. What is
// refused writes no journal row; it is counted by reason and kept in the security log.
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import * as store from '../../db/store.js';
import { buildDe48, buildDe90, type IsoFields, type IsoMessage } from '../../protocol/index.js';
import { metricValue } from '../helpers/metrics.js';

const SP = 'PS_SENOSOFT    ';

t.test('terminal sessions', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db, { SWITCH_SECURITY_LOG_SIZE: '4' });
  const buy = (terminalId: string, pan: string, amount: number, extra: IsoFields = {}): IsoMessage => ({
    mti: '0200',
    fields: { 2: pan, 14: '9912', 3: '000000', 4: String(amount).padStart(12, '0'), 7: de7(), 11: nextStan(), 41: terminalId, 42: SP, 48: buildDe48({ SV: 'FUEL' }), 49: '952', ...extra },
  });
  const journalRows = async (terminalId: string): Promise<number> =>
    (await db.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM journal WHERE terminal_id = $1', [terminalId])).rows[0].n;
  const refusedMetric = (reason: string): Promise<number> => metricValue(sw.metricsPort, 'switch_refused_total', `reason="${reason}"`);
  const connect = async (): Promise<TestTerminal> => {
    const c = await TestTerminal.connect(sw.port);
    t.teardown(() => c.close());
    return c;
  };

  t.test('another connection that never signed on cannot buy as a signed-on terminal', async (t) => {
    const card = await w.card(10_000);
    const real = await TestTerminal.signedOn(sw.port, w.terminal);
    t.teardown(() => real.close());
    t.equal((await real.send(buy(w.terminal, card.pan, 100))).fields[39], '00', 'the terminal buys on its own session');
    const rows = await journalRows(w.terminal);
    const before = await refusedMetric('no_session');
    const intruder = await connect();
    const r = await intruder.send(buy(w.terminal, card.pan, 5_000));
    t.equal(r.fields[39], '58', 'the same DE41 and DE42 on a connection without a session: 58');
    t.equal((await store.getCard(db.pool, card.id)).balance, 9_900, 'nothing charged');
    t.equal(await journalRows(w.terminal), rows, 'no journal row');
    t.equal(await refusedMetric('no_session'), before + 1, 'counted as no_session');
    const events = (await (await fetch(`http://127.0.0.1:${sw.metricsPort}/security`)).json()) as { events: Record<string, string>[] };
    const last = events.events.at(-1) ?? {};
    t.same([last.reason, last.terminalId, last.mti], ['no_session', w.terminal, '0200'], 'in the security log');
    t.equal(last.maskedPan, `${card.pan.slice(0, 6)}${'*'.repeat(card.pan.length - 10)}${card.pan.slice(-4)}`, 'the PAN masked');
    t.notOk(JSON.stringify(events).includes(card.pan), 'no full PAN in the security log');
    t.notOk(intruder.closed, 'the connection stays open: it may sign on');
    const reversal = { mti: '0400', fields: { 7: de7(), 11: nextStan(), 41: w.terminal, 42: SP, 90: buildDe90({ mti: '0200', stan: '000001', transmissionDateTime: de7() }) } };
    t.equal((await intruder.send(reversal)).fields[39], '58', 'a reversal without a session: 58');
    const recon = { mti: '0500', fields: { 7: de7(), 11: nextStan(), 41: w.terminal, 74: '0000000000', 76: '0000000000', 86: '0000000000000000', 88: '0000000000000000' } };
    t.equal((await intruder.send(recon)).fields[39], '58', 'a reconciliation without a session: 58');
    t.equal((await intruder.send({ ...buy(w.terminal, card.pan, 100), mti: '0220' })).fields[39], '58', 'an advice without a session: 58');
    t.equal(await journalRows(w.terminal), rows, 'still no journal row');
    t.equal((await real.send(buy(w.terminal, card.pan, 100))).fields[39], '00', 'the real terminal is still served');
  });

  t.test('a DE41 other than the session\'s gets 58 and the connection is closed', async (t) => {
    const card = await w.card(10_000);
    const term = await TestTerminal.signedOn(sw.port, w.terminal);
    t.teardown(() => term.close());
    const rows = await journalRows(w.terminal2);
    const before = await refusedMetric('session_terminal_mismatch');
    const r = await term.send(buy(w.terminal2, card.pan, 100));
    t.equal(r.fields[39], '58', '58');
    t.ok(await term.waitClosed(), 'the connection is closed');
    t.equal(await journalRows(w.terminal2), rows, 'no journal row');
    t.equal((await store.getCard(db.pool, card.id)).balance, 10_000, 'nothing charged');
    t.equal(await refusedMetric('session_terminal_mismatch'), before + 1, 'counted as session_terminal_mismatch');
  });

  t.test('a connection signing on is its terminal\'s: another DE41 right behind the sign-on is refused', async (t) => {
    const card = await w.card(1_000);
    const term = await connect();
    const on: IsoMessage = { mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: w.terminal, 70: '001' } };
    const other = buy(w.terminal2, card.pan, 100);
    const answers = [term.answerTo(on), term.answerTo(other)];
    term.write(Buffer.concat([term.frame(on), term.frame(other)]));
    const [a, b] = await Promise.all(answers);
    t.equal(a.fields[39], '00', 'the sign-on is answered');
    t.equal(b.fields[39], '58', 'the other terminal\'s purchase is refused');
    t.ok(await term.waitClosed(), 'and the connection closed');
    t.equal((await store.getCard(db.pool, card.id)).balance, 1_000, 'nothing charged');
  });

  t.test('a purchase written right behind its terminal\'s sign-on waits for it and is approved', async (t) => {
    const card = await w.card(1_000);
    const term = await connect();
    const on: IsoMessage = { mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: w.terminal, 70: '001' } };
    const p = buy(w.terminal, card.pan, 100);
    const answers = [term.answerTo(on), term.answerTo(p)];
    term.write(Buffer.concat([term.frame(on), term.frame(p)]));
    const [a, b] = await Promise.all(answers);
    t.same([a.fields[39], b.fields[39]], ['00', '00'], 'signed on, then approved');
    const refused: IsoMessage = { mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: 'NOSUCH03', 70: '001' } };
    const other = await connect();
    const p2 = buy('NOSUCH03', card.pan, 100);
    const answers2 = [other.answerTo(refused), other.answerTo(p2)];
    other.write(Buffer.concat([other.frame(refused), other.frame(p2)]));
    const [c, d] = await Promise.all(answers2);
    t.same([c.fields[39], d.fields[39]], ['58', '58'], 'behind a refused sign-on: no session');
    t.equal((await store.getCard(db.pool, card.id)).balance, 900, 'charged once');
  });

  t.test('sign-off ends the session', async (t) => {
    const card = await w.card(1_000);
    const term = await TestTerminal.signedOn(sw.port, w.terminal);
    t.teardown(() => term.close());
    t.equal((await term.send(buy(w.terminal, card.pan, 100))).fields[39], '00', 'signed on: approved');
    t.equal(await term.signOff(w.terminal), '00', 'signed off');
    t.equal((await term.send(buy(w.terminal, card.pan, 100))).fields[39], '58', 'after sign-off: 58');
    t.equal(await term.signOff(w.terminal), '58', 'a sign-off without a session: 58');
    t.equal(await term.signOn(w.terminal), '00', 'a new sign-on');
    t.equal((await term.send(buy(w.terminal, card.pan, 100))).fields[39], '00', 'approved again');
    t.equal((await store.getCard(db.pool, card.id)).balance, 800, 'two purchases charged');
  });

  t.test('an echo needs no session and opens none', async (t) => {
    const card = await w.card(1_000);
    const term = await connect();
    const echo = await term.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: w.terminal, 70: '301' } });
    t.same([echo.mti, echo.fields[39]], ['0810', '00'], 'echo without a session: 00');
    t.equal((await term.send(buy(w.terminal, card.pan, 100))).fields[39], '58', 'an echo is no sign-on');
    t.equal(await term.signOn(w.terminal2), '00', 'nor does it bind the connection: another terminal may sign on');
    t.equal((await term.send(buy(w.terminal2, card.pan, 100))).fields[39], '00', 'and buy');
  });

  t.test('a refused sign-on leaves no session', async (t) => {
    const card = await w.card(1_000);
    const term = await connect();
    t.equal(await term.signOn('NOSUCH02'), '58', 'unknown terminal: sign-on refused');
    t.equal((await term.send(buy('NOSUCH02', card.pan, 100))).fields[39], '58', 'no session');
    t.equal(await term.signOn(w.terminal), '00', 'the connection is free again');
    t.equal((await term.send(buy(w.terminal, card.pan, 100))).fields[39], '00');
  });

  t.test('the security log keeps the latest events only', async (t) => {
    const term = await connect();
    for (let i = 0; i < 6; i++) await term.send(buy(w.terminal, '6280001111111111', 1));
    const log = (await (await fetch(`http://127.0.0.1:${sw.metricsPort}/security`)).json()) as { total: number; capacity: number; events: unknown[] };
    t.equal(log.capacity, 4);
    t.equal(log.events.length, 4, 'four kept');
    t.ok(log.total >= 6, `${log.total} recorded`);
    t.same(sw.securityLog.entries().length, 4);
  });
});
