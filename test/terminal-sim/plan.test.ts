// The load generator's pure parts: the open-loop schedule (constant and ramp), the mix draw,
// SLO rules, the send lag, the HTML charts, and the message layouts the firmware model sends.
import t from 'tap';
import { Codec, ascii87, binary87, parseDe48 } from '../../protocol/index.js';
import { MixDraw, Schedule, parseMix } from '../../terminal-sim/load/plan.js';
import { checkSlo, parseSlo } from '../../terminal-sim/load/slo.js';
import { LoadStats } from '../../terminal-sim/load/stats.js';
import { lineChart } from '../../terminal-sim/load/html.js';
import { describeSendLag } from '../../terminal-sim/load/report.js';
import { UsageError } from '../../terminal-sim/args.js';
import { LAYOUTS, build, reconciliationFields, saleFields } from '../../terminal-sim/messages.js';
import { fieldTable } from '../../terminal-sim/display.js';

t.test('schedule: intended send times of a constant rate and of a ramp', async (t) => {
  const c = new Schedule(200, 200, 2000);
  t.equal(c.total, 400);
  t.same([c.timeOf(0), c.timeOf(1), c.timeOf(200)], [0, 5, 1000]);
  const r = new Schedule(100, 300, 2000); // N(t) = 100t + 50t^2: 400 in 2 s
  t.equal(r.total, 400);
  t.ok(Math.abs(r.timeOf(150) - 1000) < 1e-6, 'the 150th at 1 s');
  t.ok(Math.abs(r.timeOf(400) - 2000) < 1e-6, 'the 400th at 2 s');
  t.equal(r.rateAt(1000), 200);
  const times = Array.from({ length: 400 }, (_, k) => r.timeOf(k));
  t.ok(times.every((x, k) => k === 0 || x > times[k - 1]), 'intended times increase');
  t.ok(r.timeOf(399) - r.timeOf(398) < r.timeOf(1) - r.timeOf(0), 'closer together as the rate rises');
  t.throws(() => new Schedule(0, 10, 1000), UsageError);
});

t.test('mix: weights parsed and drawn in proportion, reproducibly', async (t) => {
  const mix = parseMix('purchase=80,preauth=10,inquiry=10');
  t.same(mix, { purchase: 80, preauth: 10, inquiry: 10, redeem: 0 });
  const count = (seed: number): Record<string, number> => {
    const d = new MixDraw(mix, seed);
    const n: Record<string, number> = {};
    for (let i = 0; i < 100_000; i++) {
      const k = d.next();
      n[k] = (n[k] ?? 0) + 1;
    }
    return n;
  };
  const n = count(7);
  t.equal(n.redeem, undefined, 'weight 0 is never drawn');
  t.ok(Math.abs(n.purchase / 100_000 - 0.8) < 0.01, `purchase ${n.purchase}`);
  t.ok(Math.abs(n.preauth / 100_000 - 0.1) < 0.01, `preauth ${n.preauth}`);
  t.same(count(7), n, 'the same seed, the same draws');
  t.same(new MixDraw(parseMix('inquiry=1'), 1).next(), 'inquiry');
  t.throws(() => parseMix('purchase=80,refund=20'), /unknown type refund/);
  t.throws(() => parseMix('purchase=0'), /every weight is 0/);
});

t.test('SLO rules: latencies, error counts and shares, achieved rate', async (t) => {
  const rules = parseSlo('p99=10ms,p99.9=0.5s,max=20ms,errors=0,timeouts=1%,achieved=95%');
  t.same(rules.map((r) => [r.metric, r.limit, r.percent]), [['p99', 10, false], ['p99.9', 500, false], ['max', 20, false], ['errors', 0, false], ['timeouts', 1, true], ['achieved', 95, true]]);
  const s = new LoadStats();
  for (let i = 0; i < 99; i++) {
    s.sentOne('purchase');
    s.answer('purchase', '00', 2_000);
  }
  s.sentOne('purchase');
  s.answer('purchase', '51', 30_000); // a decline: not an error, but slow
  let checks = checkSlo(rules, s, 100);
  t.same(checks.map((c) => c.ok), [true, true, false, true, true, true], 'only max (30 ms) missed');
  s.sentOne('purchase');
  s.answer('purchase', '96', 1_000);
  checks = checkSlo(parseSlo('errors=0'), s, 100);
  t.same([checks[0].ok, checks[0].actual], [false, '1'], '96 is an error');
  s.sentOne('inquiry');
  s.timeout('inquiry', 5_000_000);
  t.equal(s.errors, 2, 'a timeout is an error');
  t.equal(checkSlo(parseSlo('achieved=99%'), s, 98.5)[0].ok, false);
  t.throws(() => parseSlo('p99'), UsageError);
  t.throws(() => parseSlo('speed=10'), /unknown metric/);
  t.throws(() => parseSlo('achieved=95'), /percentage/);
});

t.test("send lag: every message's delay behind its intended time, its percentiles and the line", async (t) => {
  const s = new LoadStats();
  t.same(s.sendLagSummary(), { p50Ms: 0, p99Ms: 0, maxMs: 0 }, 'nothing sent yet');
  for (let i = 0; i < 980; i++) s.sentLate(0.5);
  for (let i = 0; i < 19; i++) s.sentLate(2);
  s.sentLate(12.5);
  s.sentLate(-0.2); // a tick that fired a hair early for a message: counted as no delay
  const l = s.sendLagSummary();
  t.equal(l.p50Ms, 0.5);
  t.equal(l.p99Ms, 2, 'the 990th of 1,001 delays');
  t.equal(l.maxMs, 12.5);
  t.equal(s.maxSendLagMs, 12.5, 'the max kept as before');
  t.equal(describeSendLag({ sent: 1001, sendLagMs: l }), 'simulator: sent late by p50 0.50, p99 2.00, max 12.5 ms (part of every latency)');
  t.equal(describeSendLag({ sent: 0, sendLagMs: l }), 'simulator: nothing sent');
});

t.test('charts: an SVG with a line per series and escaped labels', async (t) => {
  const svg = lineChart({ title: 'a <b> & c', xLabel: 'x', yLabel: 'y', series: [{ name: 's1', color: '#000', points: [[0, 1], [1, 3], [2, 2]] }, { name: 'empty', color: '#f00', points: [] }] });
  t.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  t.match(svg, /a &lt;b&gt; &amp; c/);
  t.equal((svg.match(/<path /g) ?? []).length, 1);
  t.match(svg, /<path d="M[0-9.]+,[0-9.]+ L[0-9.]+,[0-9.]+ L[0-9.]+,[0-9.]+"/);
});

t.test('message layouts encode in both specs; the field table masks the PAN and hides codes', async (t) => {
  const at = new Date(Date.UTC(2026, 10, 27, 9, 5, 7));
  const trace = { terminalId: 'TPE00001', servicePoint: 'PS_SENOSOFT', stan: '000042', at };
  const buy = build('purchase', trace, saleFields({ pan: '6280001234567890', amount: 7_351 }));
  t.same(buy.fields, { 2: '6280001234567890', 3: '000000', 4: '000000007351', 7: '1127090507', 11: '000042', 12: '090507', 13: '1127', 22: '901', 25: '00', 41: 'TPE00001', 42: 'PS_SENOSOFT    ', 48: 'SV004FUEL', 49: '952' });
  const code = build('redemption', trace, saleFields({ code: '12345678', amount: 100 }));
  t.same([code.fields[2], code.fields[22], parseDe48(String(code.fields[48])).TC], [undefined, '012', '12345678']);
  const recon = build('reconciliation', trace, reconciliationFields({ debits: 3, debitsAmount: 4500, debitReversals: 1, debitReversalsAmount: 700 }));
  t.same([recon.mti, recon.fields[74], recon.fields[76], recon.fields[77], recon.fields[86], recon.fields[88], recon.fields[89], recon.fields[42]], ['0500', '0000000000', '0000000003', '0000000001', '0000000000000000', '0000000000004500', '0000000000000700', undefined]);
  for (const kind of Object.keys(LAYOUTS) as (keyof typeof LAYOUTS)[]) {
    const m = build(kind, trace, kind === 'completion' || kind === 'reversal' ? { 90: '0'.repeat(42) } : {});
    for (const spec of [ascii87, binary87]) {
      const codec = new Codec(spec);
      t.same(codec.decode(codec.encode(m)), m, `${kind} round-trips in ${spec.name}`);
    }
  }
  const table = fieldTable(code, ascii87) + fieldTable(buy, ascii87);
  t.match(table, /2 +Primary account number \(PAN\) +628000\*{6}7890/);
  t.notMatch(table, /6280001234567890/);
  t.match(table, /TC=\*\*\*\*/);
  t.notMatch(table, /12345678/);
});
