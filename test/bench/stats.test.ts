// Statistics shared by the benchmarks: percentiles, and a batch's cost fitted as fixed + per item.
import t from 'tap';
import { fitPerBatch, percentile, percentilesMs } from '../../bench/stats.js';

t.test('percentile: nearest rank of sorted values, 0 for none', async (t) => {
  const v = Array.from({ length: 1000 }, (_, i) => i + 1);
  t.equal(percentile(v, 50), 501);
  t.equal(percentile(v, 99), 991);
  t.equal(percentile(v, 99.9), 1000);
  t.equal(percentile(v, 100), 1000, 'never past the last');
  t.equal(percentile([], 99), 0);
});

t.test('percentilesMs: the four figures of timings in any order, rounded to the µs; zeros for none', async (t) => {
  const v = Array.from({ length: 1000 }, (_, i) => (1000 - i) / 3); // descending, thirds of a ms
  t.same(percentilesMs(v), { p50Ms: 167, p99Ms: 330.333, p99_9Ms: 333.333, maxMs: 333.333 });
  t.equal(v[0], 1000 / 3, 'the timings themselves are not sorted in place');
  t.same(percentilesMs([]), { p50Ms: 0, p99Ms: 0, p99_9Ms: 0, maxMs: 0 });
});

t.test('fitPerBatch: fixed cost per batch and cost per item, by least squares', async (t) => {
  const exact = fitPerBatch([1, 10, 100].map((items) => ({ items, cost: 600 + 60 * items })));
  t.ok(exact);
  t.ok(Math.abs((exact?.fixed ?? 0) - 600) < 1e-6, 'fixed cost recovered');
  t.ok(Math.abs((exact?.perItem ?? 0) - 60) < 1e-9, 'per-item cost recovered');
  // noisy points: the fit goes between them
  const noisy = fitPerBatch([
    { items: 1, cost: 700 },
    { items: 1, cost: 500 },
    { items: 3, cost: 700 },
    { items: 3, cost: 900 },
  ]);
  t.same(noisy, { fixed: 500, perItem: 100 });
  t.equal(fitPerBatch([{ items: 5, cost: 1 }]), undefined, 'one point fits no line');
  t.equal(fitPerBatch([{ items: 5, cost: 1 }, { items: 5, cost: 2 }]), undefined, 'one size fits no line');
});
