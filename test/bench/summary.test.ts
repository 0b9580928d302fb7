// make bench's summary: the ratios, the costs, the targets and the table.
import t from 'tap';
import { checkTargets, costStepsUsed, median, summarize, summaryTable, switchCosts, TARGETS, type CostStep } from '../../bench/summary.js';

t.test('summarize: the ratios of the held rates, rounded', async (t) => {
  const s = summarize({
    ceilingPerSecond: 16_000,
    switchPerSecond: 4200,
    unbatchedPerSecond: 500,
    postgresUsPerApproval: 73.456,
    cpuUsPerAnswerAt1000: 412.34,
    simulatorUsPerMessage: 40.06,
    ceilingCpuUsPerAnswerAt1000: 137.44,
    securityUsPerMessage: 26.04,
    simulatorSecurityUsPerMessage: 25.01,
  });
  t.same(s, {
    ceilingPerSecond: 16_000,
    switchPerSecond: 4200,
    unbatchedPerSecond: 500,
    switchToCeiling: 0.26,
    switchToUnbatched: 8.4,
    postgresUsPerApproval: 73.5,
    cpuUsPerAnswerAt1000: 412.3,
    simulatorUsPerMessage: 40.1,
    ceilingCpuUsPerAnswerAt1000: 137.4,
    cpuAt1000ToCeiling: 3,
    securityUsPerMessage: 26,
    simulatorSecurityUsPerMessage: 25,
  });
  t.same(
    Object.keys(s).sort(),
    ['ceilingCpuUsPerAnswerAt1000', 'ceilingPerSecond', 'cpuAt1000ToCeiling', 'cpuUsPerAnswerAt1000', 'postgresUsPerApproval', 'securityUsPerMessage', 'simulatorSecurityUsPerMessage', 'simulatorUsPerMessage', 'switchPerSecond', 'switchToCeiling', 'switchToUnbatched', 'unbatchedPerSecond'],
    'exactly these fields',
  );
});

t.test('summarize: a run that held no rate gives no ratio (null, not 0 or Infinity)', async (t) => {
  const s = summarize({ ceilingPerSecond: 16_000, unbatchedPerSecond: undefined, switchPerSecond: 1000 });
  t.equal(s.switchToUnbatched, null);
  t.equal(s.unbatchedPerSecond, null);
  t.equal(s.switchToCeiling, 0.06);
  t.equal(summarize({ ceilingPerSecond: 16_000 }).switchToCeiling, null, 'the switch held nothing');
  t.equal(summarize({ postgresUsPerApproval: Infinity }).postgresUsPerApproval, null);
  t.equal(summarize({ cpuUsPerAnswerAt1000: 900 }).cpuAt1000ToCeiling, null, 'no floor measured: no ratio to it');
  t.equal(summarize({ cpuUsPerAnswerAt1000: 891.6, ceilingCpuUsPerAnswerAt1000: 269 }).cpuAt1000ToCeiling, 3.31);
});

t.test('checkTargets: each target met, missed or not measured', async (t) => {
  const s = summarize({ ceilingPerSecond: 10_000, switchPerSecond: 5000, unbatchedPerSecond: 1000, postgresUsPerApproval: 20, cpuUsPerAnswerAt1000: 500.04 });
  const r = checkTargets(s);
  t.same(r.map((x) => [x.field, x.met]), [
    ['switchToCeiling', true],
    ['switchToUnbatched', true],
    ['postgresUsPerApproval', true],
    ['cpuUsPerAnswerAt1000', true],
  ], 'on the bound is met (500.04 rounds to 500.0)');
  const missed = checkTargets(summarize({ ceilingPerSecond: 10_000, switchPerSecond: 4900, unbatchedPerSecond: 1000, postgresUsPerApproval: 20.1, cpuUsPerAnswerAt1000: 501 }));
  t.same(missed.map((x) => x.met), [false, false, false, false]);
  t.same(checkTargets(summarize({})).map((x) => x.met), [null, null, null, null], 'nothing measured: neither met nor missed');
  t.same(TARGETS.map((x) => `${x.field} ${x.op} ${x.value}`), ['switchToCeiling >= 0.5', 'switchToUnbatched >= 5', 'postgresUsPerApproval <= 20', 'cpuUsPerAnswerAt1000 <= 500']);
});

t.test('summaryTable: every figure, its target and whether it is met', async (t) => {
  const s = summarize({ ceilingPerSecond: 16_000, switchPerSecond: 4200, postgresUsPerApproval: 73.4, cpuUsPerAnswerAt1000: 412, simulatorUsPerMessage: 40, ceilingCpuUsPerAnswerAt1000: 206 });
  const lines = summaryTable(s, checkTargets(s));
  t.equal(lines.length, 2 + 12);
  t.equal(lines[1], '|---|---:|---:|---|');
  t.ok(lines.includes('| ceiling, held (/s) | 16,000 |  |  |'));
  t.ok(lines.includes('| unbatched ledger, held (/s) | - |  |  |'));
  t.ok(lines.includes('| switch / ceiling | 0.26 | >= 0.5 | NO |'));
  t.ok(lines.includes('| switch / unbatched | - | >= 5 | not measured |'));
  t.ok(lines.includes('| PostgreSQL µs per approval | 73.4 | <= 20 | NO |'));
  t.ok(lines.includes('| CPU µs per answer at 1,000/s | 412 | <= 500 | yes |'));
  t.ok(lines.includes('| simulator µs per message | 40 |  |  |'));
  t.ok(lines.includes("| ceiling's CPU µs per answer at 1,000/s (server + simulator) | 206 |  |  |"));
  t.ok(lines.includes('| CPU per answer at 1,000/s, switch / ceiling | 2 |  |  |'));
});

t.test('switchCosts: PostgreSQL at the capacity, the CPU at 1,000/s, holds left out', async (t) => {
  const step = (rate: number, o: Partial<CostStep> = {}): CostStep => ({ rate, hold: false, answered: true, approvedPerSecond: rate, postgresCores: rate * 80e-6, countedUs: 400, simulatorUs: 40, ...o });
  const steps = [
    step(1000, { countedUs: 420, simulatorUs: 42 }),
    step(2000),
    step(1000, { hold: true, countedUs: 999, simulatorUs: 99 }),
    step(8000, { postgresCores: 8000 * 30e-6 }),
    step(8000, { postgresCores: 8000 * 40e-6 }),
    step(16_000, { answered: false, postgresCores: 1 }),
  ];
  const c = switchCosts(steps, 8000, 1000);
  t.equal(Math.round((c.postgresUsPerApproval ?? 0) * 10) / 10, 35, 'the median of the two runs at 8,000/s');
  t.equal(c.cpuUsPerAnswerAt1000, 420, 'the search step, not the hold');
  t.equal(c.simulatorUsPerMessage, 42);
  // per approval, not per answer: inquiries are answered, not approved
  t.equal(Math.round(switchCosts([step(8000, { approvedPerSecond: 4000, postgresCores: 0.32 })], 8000, 1000).postgresUsPerApproval ?? 0), 80);
  t.same(switchCosts(steps, undefined, 500), { postgresUsPerApproval: undefined, cpuUsPerAnswerAt1000: undefined, simulatorUsPerMessage: undefined }, 'nothing measured there');
});

t.test('switchCosts: a step at 1,000/s the host\'s steal disturbed is left out while another is not', async (t) => {
  const step = (o: Partial<CostStep>): CostStep => ({ rate: 1000, hold: false, answered: true, approvedPerSecond: 1000, countedUs: 600, simulatorUs: 150, ...o });
  const stolen = step({ countedUs: 846, simulatorUs: 211, stolenUs: 541 });
  const calm = step({ countedUs: 610, simulatorUs: 130, stolenUs: 20 });
  t.equal(switchCosts([stolen, calm], undefined, 1000).cpuUsPerAnswerAt1000, 610, 'the median would be 728');
  t.equal(switchCosts([stolen, calm], undefined, 1000).simulatorUsPerMessage, 130);
  t.equal(switchCosts([stolen], undefined, 1000).cpuUsPerAnswerAt1000, 846, 'every step disturbed: they count');
  t.same(costStepsUsed([stolen, calm, step({ hold: true, stolenUs: 0 })], 1000), [calm], 'holds are never cost steps');
  t.same(costStepsUsed([step({ countedUs: 500, stolenUs: 100 })], 1000).length, 1, 'a fifth exactly is not disturbed');
});

t.test('median', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5);
  t.equal(median([]), undefined);
});
