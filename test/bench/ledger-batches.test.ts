// The bench's ledger-batch line, read from the switch's own metrics endpoint (not a copy of its text).
import t from 'tap';
import type { AddressInfo } from 'node:net';
import { SwitchMetrics, startMetricsServer } from '../../switch/metrics.js';
import { batchesBetween, describeAnswers, describeBatches, parseBatchMetrics, quantileBound, scrapeBatches, shareAbove, type BatchCounts } from '../../bench/ledger-batches.js';

const observe = (m: SwitchMetrics, size: number, ms: number): void => {
  m.batchSize.observe(size);
  m.batchSeconds.observe(ms / 1000);
};

t.test('parseBatchMetrics reads the switch registry: batches, items, seconds, cumulative buckets', async (t) => {
  const m = new SwitchMetrics();
  observe(m, 4, 1.5);
  observe(m, 6, 3);
  observe(m, 10, 30);
  m.countRequest('0200', '00');
  m.countRequest('0200', '00');
  m.countRequest('0200', '51');
  m.countRequest('0100', '00');
  const c = parseBatchMetrics(await m.registry.metrics());
  t.ok(c);
  t.equal(c?.requests, 4, 'answered messages, every MTI and code');
  t.equal(c?.batches, 3);
  t.equal(c?.items, 20);
  t.ok(Math.abs((c?.seconds ?? 0) - 0.0345) < 1e-9, 'sum of batch seconds');
  const le = (s: number): number | undefined => c?.buckets.find((b) => b.le === s)?.count;
  t.equal(le(0.001), 0);
  t.equal(le(0.002), 1);
  t.equal(le(0.005), 2);
  t.equal(le(0.05), 3);
  t.equal(le(Infinity), 3, '+Inf is the last bucket');
  t.equal(c?.buckets.at(-1)?.le, Infinity);
  t.equal(parseBatchMetrics('# nothing\nother_metric 1\n'), undefined, 'a text without the histograms');
});

t.test('batchesBetween and the line: only what happened during the step', async (t) => {
  const m = new SwitchMetrics();
  for (let i = 0; i < 50; i++) observe(m, 1, 300); // before the step: slow, must not show
  m.countRequest('0200', '00');
  const before = parseBatchMetrics(await m.registry.metrics()) as BatchCounts;
  for (let i = 0; i < 800; i++) m.countRequest('0200', '00');
  for (let i = 0; i < 99; i++) observe(m, 8, 2);
  observe(m, 8, 12);
  const d = batchesBetween(before, parseBatchMetrics(await m.registry.metrics()) as BatchCounts);
  t.equal(d.batches, 100);
  t.equal(d.items, 800);
  t.equal(d.requests, 800);
  t.equal(quantileBound(d.buckets, 0.99), 0.002, '99 of 100 within 2 ms');
  t.equal(quantileBound(d.buckets, 1), 0.02, 'the slowest within 20 ms');
  t.equal(describeBatches(d), 'ledger: 100 batches, 8.0 items each, 2.10 ms mean, 99% within 2 ms, all within 20 ms');
  t.equal(describeBatches(batchesBetween(before, before)), 'ledger: no batch');
  observe(m, 1, 2000);
  const slow = batchesBetween(before, parseBatchMetrics(await m.registry.metrics()) as BatchCounts);
  t.match(describeBatches(slow), /all over the last bucket$/, 'a batch past the largest bound');
});

t.test("the switch's own latency: every MTI summed, only the step, the line", async (t) => {
  const m = new SwitchMetrics();
  for (let i = 0; i < 10; i++) m.observeLatency('0200', 0.2); // before the step: must not show
  const before = parseBatchMetrics(await m.registry.metrics()) as BatchCounts;
  t.equal(before.answers.at(-1)?.count, 10);
  t.equal(before.answers.at(-1)?.le, Infinity, '+Inf last');
  for (let i = 0; i < 900; i++) m.observeLatency('0200', 0.0025);
  for (let i = 0; i < 80; i++) m.observeLatency('0100', 0.006);
  for (let i = 0; i < 12; i++) m.observeLatency('0200', 0.009);
  for (let i = 0; i < 8; i++) m.observeLatency('0800', 0.015);
  const d = batchesBetween(before, parseBatchMetrics(await m.registry.metrics()) as BatchCounts);
  const le = (s: number): number | undefined => d.answers.find((b) => b.le === s)?.count;
  t.equal(le(0.003), 900, 'the three MTIs summed by bound');
  t.equal(le(0.0075), 980);
  t.equal(le(0.01), 992);
  t.equal(le(Infinity), 1000, 'the ten slow answers before the step left out');
  t.equal(quantileBound(d.answers, 0.99), 0.01, '990th of 1,000 within 10 ms');
  t.equal(quantileBound(d.answers, 0.5), 0.003);
  t.equal(shareAbove(d.answers, 0.005), 0.1);
  t.equal(shareAbove(d.answers, 0.01), 0.008);
  t.equal(shareAbove(d.answers, 0.004), undefined, 'not a bucket bound');
  t.equal(describeAnswers(d), 'inside the switch: 99% of 1,000 answers within 10 ms; over 5 ms 10.00%, over 10 ms 0.80%');
  for (let i = 0; i < 20; i++) m.observeLatency('0200', 0.03);
  const worse = batchesBetween(before, parseBatchMetrics(await m.registry.metrics()) as BatchCounts);
  t.equal(describeAnswers(worse), 'inside the switch: 99% of 1,020 answers within 50 ms; over 5 ms 11.76%, over 10 ms 2.75%');
  t.equal(describeAnswers(batchesBetween(before, before)), 'inside the switch: no answer');
});

t.test('scrapeBatches reads a running metrics endpoint; undefined when none answers', async (t) => {
  const m = new SwitchMetrics();
  observe(m, 3, 4);
  const server = await startMetricsServer(m, [], '127.0.0.1', 0);
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  const c = await scrapeBatches(port);
  t.equal(c?.batches, 1);
  t.equal(c?.items, 3);
  await new Promise<void>((r) => server.close(() => r()));
  t.equal(await scrapeBatches(port), undefined, 'closed port');
});
