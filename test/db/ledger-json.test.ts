// The batch's JSON for ledger_post (db/ledger.ts toJson) is written out by hand for speed: it
// must read back exactly as the object form would, whatever the strings hold.
import t from 'tap';
import { toJson, type LedgerItem } from '../../db/ledger.js';

function reference(items: readonly LedgerItem[]): unknown {
  return items.map((it, i) => {
    const o: Record<string, unknown> = { i, op: it.op, src: it.source };
    if (it.terminalId !== undefined) o.term = it.terminalId;
    if (it.stan !== undefined) o.stan = it.stan;
    if (it.transmissionAt !== undefined) o.dt = it.transmissionAt;
    if (it.mti !== undefined) o.mti = it.mti;
    if (it.cardId !== undefined) o.card = it.cardId;
    if (it.codeHash !== undefined) o.code = it.codeHash;
    if (it.servicePointId !== undefined) o.sp = it.servicePointId;
    if (it.toCardId !== undefined) o.to = it.toCardId;
    if (it.amount !== undefined) o.amt = it.amount;
    if (it.currency !== undefined) o.cur = it.currency;
    if (it.service !== undefined) o.svc = it.service;
    if (it.original !== undefined) {
      o.ostan = it.original.stan;
      o.odt = it.original.transmissionAt;
    }
    if (it.requestHash !== undefined) o.rh = it.requestHash;
    if (it.preset !== undefined) o.preset = it.preset;
    if (it.userId !== undefined) o.usr = it.userId;
    if (it.note !== undefined) o.note = it.note;
    return JSON.parse(JSON.stringify(o)) as unknown;
  });
}

t.test('toJson reads back as the object form', async (t) => {
  const nasty = ['', 'TPE00001', 'a"b', 'back\\slash', 'line\nbreak', 'tab\tand\u0001ctl', 'é ü 日本', '\ud83d\ude00', '</script>'];
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)];
  const maybe = <T>(v: T): T | undefined => (rnd(3) === 0 ? undefined : v);
  for (let round = 0; round < 300; round++) {
    const items: LedgerItem[] = Array.from({ length: 1 + rnd(5) }, () => ({
      op: pick(['purchase', 'preauth', 'completion', 'reversal', 'inquiry', 'recharge', 'transfer', 'record'] as const),
      source: pick(['terminal', 'backoffice'] as const),
      terminalId: maybe(pick(nasty)),
      stan: maybe(pick(nasty)),
      transmissionAt: maybe(pick(nasty)),
      mti: maybe('0200'),
      cardId: maybe(rnd(1_000_000)),
      codeHash: maybe(pick(nasty)),
      servicePointId: maybe(rnd(1000)),
      toCardId: maybe(rnd(1000)),
      amount: maybe(pick([0, 1, 15_000, 2 ** 53 - 1, Number.NaN])),
      currency: maybe('952'),
      service: maybe(pick(['fuel', 'dotation', 'ticket'] as const)),
      original: maybe({ stan: pick(nasty), transmissionAt: pick(nasty) }),
      requestHash: maybe('ab'.repeat(32)),
      preset: maybe('unknown_card' as const),
      userId: maybe(rnd(10)),
      note: maybe(pick(nasty)),
    }));
    const got = JSON.parse(toJson(items)) as unknown;
    t.same(got, reference(items), `round ${round}`);
    if (t.passing() === false) break;
  }
  t.equal(toJson([]), '[]');
});
