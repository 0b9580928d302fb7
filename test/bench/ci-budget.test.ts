// The CI performance check's judgement: the switch's CPU per answer over the ceiling's, against the committed budget.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describeVerdict, judge, readBudget } from '../../bench/ci-budget.js';

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
