// make bench's rates under its lowest, for a machine that misses even that one.
import t from 'tap';
import { nextHoldRate, ratesBelow } from '../../bench/rates.js';

t.test('ratesBelow: a half, a fifth and a tenth of the lowest rate, descending', async (t) => {
  t.same(ratesBelow(500), [250, 100, 50]);
  t.same(ratesBelow(1000), [500, 200, 100]);
});

t.test('ratesBelow: nothing under 10/s, no repeats', async (t) => {
  t.same(ratesBelow(60), [30, 12]);
  t.same(ratesBelow(20), [10]);
  t.same(ratesBelow(15), [], '7.5, 3 and 1.5/s are too low to measure a p99');
  t.same(ratesBelow(1), []);
});

t.test('nextHoldRate: 15% lower, to the hundred from 1,000/s, to the ten below', async (t) => {
  t.equal(nextHoldRate(7000), 5900);
  t.equal(nextHoldRate(5900), 5000);
  t.equal(nextHoldRate(1200), 1000);
  t.equal(nextHoldRate(1000), 850);
  t.equal(nextHoldRate(100), 80, 'not 0, as rounding to the hundred gave');
  t.equal(nextHoldRate(10), 0, 'the end of the holds');
});
