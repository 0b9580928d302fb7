// The CI performance check's judgement: the switch's CPU per answer over the ceiling's, against the committed budget.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeDisturbed, describeVerdict, disturbed, judge, nextRound, readBudget } from '../../bench/ci-budget.js';
import { MAX_STEAL_SHARE } from '../../bench/probes/cpu-budget.js';

const budget = { cpuRatioBudget: 8, margin: 0.25 };

t.test('judge: the median of the rounds\' ratios against budget x (1 + margin)', async (t) => {
  const v = judge([{ switchUs: 400, ceilingUs: 50 }, { switchUs: 450, ceilingUs: 50 }], budget);
  t.equal(v?.ratio, 8.5);
  t.equal(v?.bound, 10);
  t.equal(v?.ok, true);
  t.equal(v?.switchUs, 425);
  t.equal(v?.ceilingUs, 50);
  t.equal(judge([{ switchUs: 500, ceilingUs: 50 }], budget)?.ok, true, 'on the bound passes');
  t.equal(judge([{ switchUs: 501, ceilingUs: 50 }], budget)?.ok, false, 'above it fails');
});

t.test('judge: a cost that doubles fails; one disturbed round of three does not decide', async (t) => {
  t.equal(judge([{ switchUs: 800, ceilingUs: 50 }, { switchUs: 820, ceilingUs: 52 }], budget)?.ok, false, 'twice the budget');
  const v = judge([{ switchUs: 400, ceilingUs: 50 }, { switchUs: 900, ceilingUs: 50 }, { switchUs: 410, ceilingUs: 50 }], budget);
  t.equal(v?.ratio, 8.2);
  t.equal(v?.ok, true);
});

t.test('disturbed: steal over a fifth of either side\'s CPU per answer', async (t) => {
  t.equal(MAX_STEAL_SHARE, 0.2);
  t.equal(disturbed({ switchUs: 700, ceilingUs: 230 }), false, 'no steal measured');
  t.equal(disturbed({ switchUs: 700, ceilingUs: 230, switchStolenUs: 98, ceilingStolenUs: 24 }), false, '14% and 10%');
  t.equal(disturbed({ switchUs: 700, ceilingUs: 230, switchStolenUs: 0, ceilingStolenUs: 47 }), true, 'the ceiling at 20.4%');
  t.equal(disturbed({ switchUs: 700, ceilingUs: 230, switchStolenUs: 141, ceilingStolenUs: 0 }), true, 'the switch at 20.1%');
  t.equal(disturbed({ switchUs: 700, ceilingUs: 230, switchStolenUs: 140, ceilingStolenUs: 46 }), false, 'exactly a fifth is not over it');
});

t.test('judge: rounds the host\'s steal disturbed are left out while one is not', async (t) => {
  // as seen on one host: the ceiling's cost rises under steal, and the ratio reads low
  const clean = { switchUs: 756, ceilingUs: 223, switchStolenUs: 98, ceilingStolenUs: 7 };
  const stolen = { switchUs: 684, ceilingUs: 343, switchStolenUs: 300, ceilingStolenUs: 731 };
  const v = judge([stolen, clean, stolen], { cpuRatioBudget: 2.5, margin: 0.25 });
  t.equal(v?.ratio, 756 / 223, 'the clean round decides, though the disturbed ones are the median');
  t.equal(v?.ok, false, 'a ratio the steal would have hidden (1.99) fails');
  t.equal(v?.used, 1);
  t.equal(v?.leftOut, 2);
  t.equal(v?.allDisturbed, false);
  t.match(v && describeVerdict(v, budget), /OVER BUDGET \(2 rounds disturbed by the host's steal left out\)$/);
  const all = judge([stolen, stolen], budget);
  t.equal(all?.used, 2, 'every round disturbed: they decide');
  t.equal(all?.allDisturbed, true);
  t.match(all && describeVerdict(all, budget), /: ok \(every round disturbed by the host's steal: the ratio may read low\)$/);
  t.equal(describeDisturbed(3, stolen), "round 3: the host's steal took 213% of the ceiling's CPU per answer (over 20%): disturbed");
  t.equal(describeDisturbed(1, { switchUs: 700, ceilingUs: 230, switchStolenUs: 210, ceilingStolenUs: 0 }), "round 1: the host's steal took 30% of the switch's CPU per answer (over 20%): disturbed");
});

t.test('nextRound: two undisturbed rounds decide, a third confirms one over, disturbed ones are measured again, five at most', async (t) => {
  const ok = { switchUs: 400, ceilingUs: 50 }; // 8: within budget x 1.25 = 10
  const over = { switchUs: 600, ceilingUs: 50 }; // 12
  const stolen = { switchUs: 400, ceilingUs: 50, ceilingStolenUs: 40 };
  t.equal(nextRound([ok], budget, 2, 1, 5), 'few');
  t.equal(nextRound([ok, ok], budget, 2, 2, 5), 'done');
  t.equal(nextRound([ok, stolen], budget, 2, 2, 5), 'few', 'a disturbed round does not count');
  t.equal(nextRound([ok, stolen, ok], budget, 2, 3, 5), 'done');
  t.equal(nextRound([over, over], budget, 2, 2, 5), 'over');
  t.equal(nextRound([over, over, ok], budget, 2, 3, 5), 'done', 'the third decides: median 12, it fails');
  t.equal(judge([over, over, ok], budget)?.ok, false);
  t.equal(nextRound([over, over, stolen], budget, 2, 3, 5), 'over', 'a disturbed third does not confirm');
  t.equal(nextRound([stolen, stolen, stolen, stolen, stolen], budget, 2, 5, 5), 'done', 'never past the maximum');
  t.equal(nextRound([ok], budget, 2, 2, 5), 'few', 'an overloaded round ran but measured nothing');
  t.equal(nextRound([ok], budget, 2, 5, 5), 'done');
});

t.test('judge: nothing measured gives no verdict', async (t) => {
  t.equal(judge([], budget), undefined);
  t.equal(judge([{ switchUs: 400, ceilingUs: 0 }], budget), undefined, 'a ceiling with no CPU measured is no measure');
});

t.test('describeVerdict: the ratio, the two figures, the budget, the margin and the bound', async (t) => {
  const v = judge([{ switchUs: 612, ceilingUs: 100 }], budget);
  t.equal(v && describeVerdict(v, budget), 'CPU ratio switch/ceiling 6.12 (switch 612 µs, ceiling 100.0 µs per answer): budget 8, margin 25%, bound 10.00: ok');
  const over = judge([{ switchUs: 1200, ceilingUs: 100 }], budget);
  t.match(over && describeVerdict(over, budget), /: OVER BUDGET$/);
});

t.test('readBudget: the committed budget parses; a bad one is refused', async (t) => {
  const b = readBudget();
  t.ok(b.cpuRatioBudget > 1, `the repository's budget (${b.cpuRatioBudget})`);
  t.ok(b.margin >= 0 && b.margin <= 1);
  t.match(b.how ?? '', /lower cpuRatioBudget/, 'it says how to lower it');
  const dir = mkdtempSync(join(tmpdir(), 'cynod-budget-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'b.json'), JSON.stringify({ cpuRatioBudget: -1, margin: 0.25 }));
  t.throws(() => readBudget(pathToFileURL(join(dir, 'b.json'))));
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ cpuRatioBudget: 3, margin: 0.1 }));
  t.same(readBudget(pathToFileURL(join(dir, 'c.json'))), { cpuRatioBudget: 3, margin: 0.1 });
});
