// make bench's search for a run's knee (and the switch's capacity), its holds, and its rates.
import t from 'tap';
import fc from 'fast-check';
import { capacityOf, holdRates, kneeOf, nextHoldRate, nextStep, ratesBelow, roundRate, type SearchPlan, type Trial } from '../../bench/search.js';

const PLAN: SearchPlan = { start: 1000, max: 40_000, factor: 2, precision: 1.2, attempts: 2 };

/** Runs the search against a model machine: `outcome(rate, attempt)` says what a step at that rate gives. */
function simulate(plan: SearchPlan, outcome: (rate: number, attempt: number) => { slo: boolean; answered: boolean }): Trial[] {
  const trials: Trial[] = [];
  for (let next = nextStep(trials, plan); next; next = nextStep(trials, plan)) {
    const { rate, phase } = next;
    const attempt = trials.filter((x) => x.rate === rate).length + 1;
    trials.push({ rate, phase, ...outcome(rate, attempt) });
    if (trials.length > 100) throw new Error('the search does not end');
  }
  return trials;
}
/** A machine that meets the SLO up to `knee` and answers without errors up to `capacity`. */
const machine = (knee: number, capacity = Infinity) => (rate: number): { slo: boolean; answered: boolean } => ({ slo: rate <= knee, answered: rate <= capacity });

t.test('doubling from the start, then bisecting to within 20%', async (t) => {
  const trials = simulate(PLAN, machine(5000));
  t.same(trials.map((x) => x.rate), [1000, 2000, 4000, 8000, 8000, 5700, 5700, 4800], 'a missed rate is run once more');
  t.equal(kneeOf(trials, PLAN), 4800);
  t.ok(trials.every((x) => x.phase === 'knee'));
});

t.test('a step that misses once and passes the second time passes', async (t) => {
  // 2,000/s misses on its first run only (a stall of the machine)
  const trials = simulate({ ...PLAN, max: 4000 }, (rate, attempt) => ({ slo: rate !== 2000 || attempt > 1, answered: true }));
  t.same(trials.map((x) => `${x.rate}:${x.slo}`), ['1000:true', '2000:false', '2000:true', '4000:true']);
  t.equal(kneeOf(trials, PLAN), 4000, 'up to the highest rate, no further');
});

t.test('a step with errors misses at once: no second run', async (t) => {
  const trials = simulate(PLAN, (rate) => ({ slo: rate <= 2000, answered: rate <= 3000 }));
  t.same(trials.map((x) => x.rate), [1000, 2000, 4000, 2800, 2800, 2400, 2400], '4,000/s (errors) once; 2,800 and 2,400/s (p99 only) twice');
  t.equal(kneeOf(trials, PLAN), 2000);
});

t.test('when even the start misses: the next rate up once, then a half, a fifth, a tenth, then bisecting above the first that holds', async (t) => {
  const trials = simulate(PLAN, machine(150));
  t.same(trials.map((x) => x.rate), [1000, 1000, 2000, 2000, 500, 500, 200, 200, 100, 140, 170, 170, 150]);
  t.equal(kneeOf(trials, PLAN), 150);
  const none = simulate(PLAN, machine(50));
  t.equal(kneeOf(none, PLAN), undefined, 'nothing down to a tenth of the start: no knee');
  t.same([...new Set(none.map((x) => x.rate))], [1000, 2000, 500, 200, 100]);
  // the start had errors: overloaded, not a stall; straight down
  const overloaded = simulate(PLAN, (rate) => ({ slo: rate <= 150, answered: rate <= 500 }));
  t.same(overloaded.map((x) => x.rate).slice(0, 2), [1000, 500], 'no step above a start with errors');
  t.equal(kneeOf(overloaded, PLAN), 150);
});

t.test('a start missed by two stalls does not decide the run: the next rate up passes and the search goes on up', async (t) => {
  // 1,000/s misses both its runs (the machine stalled), the machine meets the SLO up to 5,000/s
  const trials = simulate(PLAN, (rate) => ({ slo: rate !== 1000 && rate <= 5000, answered: true }));
  t.same(trials.map((x) => x.rate), [1000, 1000, 2000, 4000, 8000, 8000, 5700, 5700, 4800]);
  t.equal(kneeOf(trials, PLAN), 4800, 'not a rate below the start');
});

t.test('a machine faster than the highest rate: the search ends there', async (t) => {
  const trials = simulate(PLAN, machine(1e9));
  t.same(trials.map((x) => x.rate), [1000, 2000, 4000, 8000, 16_000, 32_000, 40_000]);
  t.equal(kneeOf(trials, PLAN), 40_000);
});

t.test('capacity: after the knee, one run per rate up to the highest answered without errors', async (t) => {
  const plan: SearchPlan = { ...PLAN, capacity: { precision: 1.5 } };
  const trials = simulate(plan, machine(2000, 9000));
  const knee = trials.filter((x) => x.phase === 'knee');
  const cap = trials.filter((x) => x.phase === 'capacity');
  t.same(knee.map((x) => x.rate), [1000, 2000, 4000, 4000, 2800, 2800, 2400, 2400]);
  t.same(cap.map((x) => x.rate), [8000, 16_000, 11_000], 'up from 4,000/s (missed its p99, answered without errors), then between');
  t.equal(kneeOf(trials, plan), 2000);
  t.equal(capacityOf(trials), 8000, '11,000/s had errors; within 1.5x of 8,000/s');
  t.equal(nextStep(trials.filter((x) => x.phase === 'knee'), { ...plan, capacity: undefined }), undefined, 'without capacity the search ends at the knee');
});

t.test('the knee and the capacity are always within the precision of a rate that missed', async () => {
  fc.assert(
    fc.property(fc.integer({ min: 5, max: 60_000 }), fc.integer({ min: 0, max: 3 }), (knee, extra) => {
      const capacity = knee * (1 + extra);
      const plan: SearchPlan = { ...PLAN, capacity: { precision: 1.5 } };
      const trials = simulate(plan, machine(knee, capacity));
      const found = kneeOf(trials, plan);
      const missed = trials.filter((x) => !x.slo).map((x) => x.rate);
      if (found === undefined) return knee < 100 && trials.every((x) => x.rate >= 100);
      const above = missed.filter((r) => r > found);
      return (
        found <= knee &&
        (found === PLAN.max || (above.length > 0 && Math.min(...above) / found <= 1.2 + 1e-9)) &&
        (capacityOf(trials) ?? 0) <= capacity &&
        trials.length <= 30
      );
    }),
    { numRuns: 300 },
  );
});

t.test('holdRates: the knee, then 15% lower each time, a few at most', async (t) => {
  t.same(holdRates(7000, 3), [7000, 5900, 5000]);
  t.same(holdRates(100, 5), [100, 80, 60, 50, 40]);
  t.same(holdRates(12, 5), [12, 10], 'none under 10/s');
  t.same(holdRates(undefined, 3), [], 'no knee: nothing to hold');
});

t.test('roundRate: two significant digits', async (t) => {
  t.equal(roundRate(2828.4), 2800);
  t.equal(roundRate(316.2), 320);
  t.equal(roundRate(22_627), 23_000);
  t.equal(roundRate(57), 57);
  t.equal(roundRate(0), 0);
});

t.test('ratesBelow: a half, a fifth and a tenth of the lowest rate, descending, none under 10/s', async (t) => {
  t.same(ratesBelow(1000), [500, 200, 100]);
  t.same(ratesBelow(60), [30, 12]);
  t.same(ratesBelow(15), [], '7.5, 3 and 1.5/s are too low to measure a p99');
});

t.test('nextHoldRate: 15% lower, to the hundred from 1,000/s, to the ten below', async (t) => {
  t.equal(nextHoldRate(7000), 5900);
  t.equal(nextHoldRate(1200), 1000);
  t.equal(nextHoldRate(1000), 850);
  t.equal(nextHoldRate(100), 80, 'not 0, as rounding to the hundred gave');
  t.equal(nextHoldRate(10), 0);
});
