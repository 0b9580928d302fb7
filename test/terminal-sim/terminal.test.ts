// The TPE firmware model: automatic reversal when an answer does not come (against a silent
// host), repeats until acknowledged, advice repeats and STAN wrap-around against the real
// switch, keep-alive echoes, and a day's reconciliation whose totals the terminal kept itself.
import t from 'tap';
import { buildDe90, parseDe48 } from '../../protocol/index.js';
import { Terminal } from '../../terminal-sim/terminal.js';
import { StanSequence } from '../../terminal-sim/stan.js';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { HASH_SECRET, testSwitch } from '../helpers/switch.js';
import * as store from '../../db/store.js';
import { DroppingProxy, ScriptedHost, answerOf } from './hosts.js';

const SP = 'PS_SENOSOFT';
const PAN = '6280001234567890';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('STAN sequence: 000001..999999, then 000001', async (t) => {
  const s = new StanSequence(999_998);
  t.same([s.next(), s.next(), s.next(), s.next()], ['999998', '999999', '000001', '000002']);
  t.equal(new StanSequence().next(), '000001');
  t.throws(() => new StanSequence(0));
  t.throws(() => new StanSequence(1_000_000));
});

t.test('no answer to a purchase: 0400 naming it in DE90, then 0401 repeats with growing waits, then queued', async (t) => {
  const host = await ScriptedHost.start(t); // never answers
  const logged: { line: string; at: number }[] = [];
  const term = await Terminal.connect({
    port: host.port,
    terminalId: 'TPE00001',
    servicePoint: SP,
    initialized: true,
    autoSignOn: false, // the scripted host stands for a switch where the terminal is signed on
    timeoutMs: 150,
    retry: { firstMs: 40, maxMs: 160, attempts: 4 },
    log: (line) => logged.push({ line, at: performance.now() }),
  });
  t.teardown(() => term.close());
  const tx = await term.purchase({ pan: PAN, amount: 12_345 });
  t.equal(tx.code, undefined, 'no answer');
  t.ok(tx.reversal, 'a reversal started');
  await term.drain();
  t.same(host.mtis(), ['0200', '0400', '0401', '0401', '0401'], 'the purchase, its reversal and 3 repeats');
  const [buy, rev, ...repeats] = host.received.map((r) => r.msg);
  t.equal(rev.fields[90], buildDe90({ mti: '0200', stan: String(buy.fields[11]), transmissionDateTime: String(buy.fields[7]) }), 'DE90 names the purchase: MTI, STAN, DE7');
  t.not(rev.fields[11], buy.fields[11], 'the reversal has a STAN of its own');
  t.equal(rev.fields[4], '000000012345', 'the amount reversed');
  t.same([rev.fields[41], rev.fields[42]], ['TPE00001', 'PS_SENOSOFT    ']);
  t.equal(rev.fields[2], undefined, 'no card data in a reversal');
  for (const r of repeats) t.same(r.fields, rev.fields, 'a repeat is the same message (same STAN and DE7)');
  // The waits as the terminal took them (its own clock: a busy machine makes the host read late,
  // never the terminal send early): the reversal goes out when the purchase times out, each
  // repeat after the answer's timeout and a backoff that doubles up to its cap.
  const sends = logged.filter((l) => /: reversing$|^\S+ repeat 0401/.test(l.line)).map((l) => l.at);
  t.equal(sends.length, 4, 'the reversal and its 3 repeats, logged by the terminal');
  const gaps = [sends[1] - sends[0], sends[2] - sends[1], sends[3] - sends[2]];
  const floor = [150 + 40, 150 + 80, 150 + 160];
  gaps.forEach((g, i) => t.ok(g >= floor[i] - 2, `wait before repeat ${i + 1}: ${g.toFixed(1)} ms >= timeout + backoff ${floor[i]} ms`));
  t.equal(term.pending.length, 1, 'still unacknowledged: kept for store and forward');
  t.same(term.batch.snapshot(), { debits: 0, debitsAmount: 0, debitReversals: 0, debitReversalsAmount: 0 }, 'nothing counted that was not seen approved');
  t.equal(term.counters.autoReversals, 1);
});

t.test('repeats stop when the reversal is acknowledged; the store-and-forward queue is sent again on flush', async (t) => {
  let reversals = 0;
  let acknowledge = 2; // answer the 2nd send of the reversal
  const host = await ScriptedHost.start(t, (m) => {
    if (m.mti.startsWith('040') && ++reversals === acknowledge) return answerOf(m, '00');
    return null;
  });
  const term = await Terminal.connect({ port: host.port, terminalId: 'TPE00002', servicePoint: SP, initialized: true, autoSignOn: false, timeoutMs: 100, retry: { firstMs: 20, maxMs: 40, attempts: 5 } });
  t.teardown(() => term.close());
  const tx = await term.purchase({ pan: PAN, amount: 500 });
  const rev = await tx.reversal!;
  t.equal(rev.code, '00');
  t.equal(rev.attempts, 2, 'acknowledged on the first repeat');
  await sleep(300);
  t.same(host.mtis(), ['0200', '0400', '0401'], 'nothing sent after the acknowledgement');
  t.same(term.pending, []);
  t.same(term.batch.snapshot(), { debits: 1, debitsAmount: 500, debitReversals: 1, debitReversalsAmount: 500 }, 'reversed by the host without its answer: counted as a debit and its reversal');

  // a second one runs out of attempts, then goes out again on flush
  reversals = 0;
  acknowledge = 4;
  const term2 = await Terminal.connect({ port: host.port, terminalId: 'TPE00003', servicePoint: SP, initialized: true, autoSignOn: false, timeoutMs: 60, retry: { firstMs: 10, maxMs: 10, attempts: 2 } });
  t.teardown(() => term2.close());
  const tx2 = await term2.purchase({ pan: PAN, amount: 300 });
  await tx2.reversal;
  t.equal(term2.pending.length, 1, 'queued after 2 sends');
  t.equal(await term2.flush(), 0, 'acknowledged on the 2nd send of the next round');
  t.equal(term2.pending.length, 0);
});

t.test('keep-alive: an echo (0800/301) after the line has been idle', async (t) => {
  const host = await ScriptedHost.start(t, (m) => (m.mti === '0800' ? answerOf(m, '00') : null));
  const term = await Terminal.connect({ port: host.port, terminalId: 'TPE00004', servicePoint: SP, initialized: true, keepAliveMs: 100 });
  t.teardown(() => term.close());
  await host.waitFor(2, 3000);
  t.same(host.received.slice(0, 2).map((r) => [r.msg.mti, r.msg.fields[70]]), [['0800', '301'], ['0800', '301']]);
  t.ok(host.received[1].at - host.received[0].at >= 90, 'about once per idle period');
  t.equal(term.counters.echoes >= 2, true);
});

t.test('against the switch', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  const sw = await testSwitch(t, db);
  let seq = 0;
  /** A terminal of its own at PS_SENOSOFT (its own STANs and batch), initialized. */
  const newTerminal = async (): Promise<string> => {
    const id = `TPESIM${String(++seq).padStart(2, '0')}`;
    await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
    await db.pool.query('UPDATE terminals SET initialized_at = now() WHERE id = $1', [id]);
    return id;
  };

  t.test('STAN wrap-around: 999998, 999999, 000001 all answered', async (t) => {
    const card = await w.card(10_000);
    const term = await Terminal.connect({ port: sw.port, terminalId: await newTerminal(), servicePoint: SP, stanStart: 999_998 });
    t.teardown(() => term.close());
    const on = await term.signOn();
    const a = await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 100 });
    const b = await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 200 });
    t.same([on.stan, a.stan, b.stan], ['999998', '999999', '000001']);
    t.same([on.code, a.code, b.code], ['00', '00', '00']);
    t.same([a.response?.fields[11], b.response?.fields[11]], ['999999', '000001'], 'answers matched by STAN');
    t.equal((await store.getCard(db.pool, card.id)).balance, 9_700);
  });

  t.test('several requests in flight on one connection, each answer matched to its request', async (t) => {
    const cards = await Promise.all([1, 2, 3, 4].map(() => w.card(100_000)));
    const term = await Terminal.connect({ port: sw.port, terminalId: await newTerminal(), servicePoint: SP });
    t.teardown(() => term.close());
    const txs = await Promise.all(Array.from({ length: 40 }, (_, i) => term.purchase({ pan: cards[i % 4].pan, expiry: cards[i % 4].expiry, amount: 100 + i })));
    t.same([...new Set(txs.map((x) => x.code))], ['00']);
    t.ok(txs.every((x) => x.response?.fields[11] === x.stan && x.response?.fields[4] === String(x.amount).padStart(12, '0')), 'each answer carries its request\'s STAN and amount');
    t.equal(new Set(txs.map((x) => x.stan)).size, 40, 'a STAN each');
    t.equal(term.batch.debits, 40);
    t.equal(term.batch.debitsAmount, 40 * 100 + (39 * 40) / 2);
  });

  t.test('advice repeat: the first 0230 is lost, the 0221 gets the stored answer, charged once', async (t) => {
    const card = await w.card(20_000);
    let dropped = 0;
    const proxy = await DroppingProxy.start(t, sw.port, (m) => m.mti === '0230' && dropped++ === 0);
    const term = await Terminal.connect({ port: proxy.port, terminalId: await newTerminal(), servicePoint: SP, initialized: true, timeoutMs: 300, retry: { firstMs: 50, maxMs: 100, attempts: 4 } });
    t.teardown(() => term.close());
    const { preauth, completion } = await term.pumpSession({ pan: card.pan, expiry: card.expiry, amount: 15_000, dispensed: 12_345 });
    t.equal(preauth.code, '00');
    t.equal(completion?.code, '00', 'acknowledged');
    t.equal(completion?.attempts, 2);
    const advices = proxy.requests.filter((m) => m.mti.startsWith('022'));
    t.same(advices.map((m) => m.mti), ['0220', '0221']);
    t.same(advices[1].fields, advices[0].fields, 'the repeat is the same advice');
    t.equal(advices[0].fields[90], buildDe90({ mti: '0100', stan: preauth.stan, transmissionDateTime: preauth.transmissionDateTime }));
    const c = await store.getCard(db.pool, card.id);
    t.same([c.balance, c.held], [20_000 - 12_345, 0], 'the dispensed amount taken once, the hold released');
    t.same(term.batch.snapshot(), { debits: 1, debitsAmount: 12_345, debitReversals: 0, debitReversalsAmount: 0 });
  });

  t.test('a lost purchase answer: reversed at the switch, money back, and the totals still agree', async (t) => {
    const card = await w.card(5_000);
    let dropped = 0;
    const proxy = await DroppingProxy.start(t, sw.port, (m) => m.mti === '0210' && dropped++ === 0);
    const term = await Terminal.connect({ port: proxy.port, terminalId: await newTerminal(), servicePoint: SP, initialized: true, timeoutMs: 300, retry: { firstMs: 50, maxMs: 100, attempts: 4 } });
    t.teardown(() => term.close());
    const tx = await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 1_500 });
    t.equal(tx.code, undefined);
    const rev = await tx.reversal!;
    t.equal(rev.code, '00', 'the switch reversed it');
    t.equal((await store.getCard(db.pool, card.id)).balance, 5_000, 'the money is back');
    t.same(term.batch.snapshot(), { debits: 1, debitsAmount: 1_500, debitReversals: 1, debitReversalsAmount: 1_500 });
    t.equal((await term.reconcile()).code, '00', 'the switch counts the approval and its reversal too');
  });

  t.test('a day at the pump: reconciliation totals agree with the switch (00), and a wrong total gets 95', async (t) => {
    const card = await w.card(20_000);
    const poor = await w.card(100);
    await db.pool.query('UPDATE terminals SET initialized_at = NULL WHERE id = $1', [w.terminal2]); // a new terminal
    const { pin } = await store.issueTerminalPin(db.pool, w.terminal2, 600);
    const code = await store.createTransactionCode(db.pool, { cardId: card.id, amountMax: 1_500, ttlSeconds: 600, secret: HASH_SECRET });
    // without its sign-on first, to see the switch refuse it
    const term = await Terminal.connect({ port: sw.port, terminalId: w.terminal2, servicePoint: SP, pin, autoSignOn: false });
    t.teardown(() => term.close());
    const declinedFirst = await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 100 });
    t.equal(declinedFirst.code, '58', 'not signed on yet: 58');
    const on = await term.signOn();
    t.equal(on.code, '00', 'first initialisation with the security PIN');
    t.equal(parseDe48(String(on.request.fields[48])).SP, pin, 'the PIN went in DE48 SP');
    t.equal((await term.signOn()).request.fields[48], undefined, 'the next sign-on goes without it');

    t.equal((await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 1_000 })).code, '00');
    t.equal((await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 2_500, service: 'DOTATION' })).code, '00');
    t.equal((await term.purchase({ pan: poor.pan, expiry: poor.expiry, amount: 5_000 })).code, '51', 'a decline counts for nothing');
    const pump = await term.pumpSession({ pan: card.pan, expiry: card.expiry, amount: 8_000, dispensed: 4_321 });
    t.equal(pump.completion?.code, '00', 'pump session');
    const cancelled = await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 700 });
    t.equal((await term.reverse(cancelled)).code, '00', 'cancelled purchase reversed');
    t.equal((await term.reverse(cancelled)).code, '00', 'a second reversal is acknowledged ...');
    const inquiry = await term.inquiry({ pan: card.pan, expiry: card.expiry });
    t.equal(inquiry.code, '00');
    t.equal(inquiry.balance, 20_000 - 1_000 - 2_500 - 4_321, 'balance inquiry (DE54)');
    t.equal((await term.redeem({ code: code.code, amount: 1_200 })).code, '00', 'transaction code redeemed');
    t.same(term.batch.snapshot(), { debits: 5, debitsAmount: 1_000 + 2_500 + 4_321 + 700 + 1_200, debitReversals: 1, debitReversalsAmount: 700 }, '... and counted once');
    const recon = await term.reconcile();
    t.equal(recon.code, '00', 'totals agree');
    t.same(term.batch.snapshot(), { debits: 0, debitsAmount: 0, debitReversals: 0, debitReversalsAmount: 0 }, 'a new batch');
    t.equal((await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 50 })).code, '00');
    term.batch.debit(1); // a firmware bug
    t.equal((await term.reconcile()).code, '95', 'totals that differ: 95');
  });
});
