// The switch when PostgreSQL or Redis go away and come back (through a loopback proxy the
// test cuts, so the shared servers keep serving other tests), and its graceful shutdown.
import t from 'tap';
import { testDb, DATABASE_URL } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { CuttableProxy } from '../helpers/proxy.js';
import { REDIS_URL, TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import * as store from '../../db/store.js';
import { buildDe48, type IsoMessage } from '../../protocol/index.js';

const SP = 'PS_SENOSOFT    ';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `) || (labels === '' && l.startsWith(`${name} `)));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  return res.text();
}

t.test('PostgreSQL away: 91 and never an approval; back: approving again without a restart', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const url = new URL(DATABASE_URL);
  const proxy = await CuttableProxy.start(url.hostname, Number(url.port || 5432));
  t.teardown(() => proxy.close());
  url.port = String(proxy.port);
  const sw = await testSwitch(t, db, { DATABASE_URL: url.toString() });
  const card = await w.card(100_000);
  const term = await TestTerminal.signedOn(sw.port, w.terminal);
  t.teardown(() => term.close());
  const buy = (): IsoMessage => ({
    mti: '0200',
    fields: { 2: card.pan, 14: card.expiry, 3: '000000', 4: '000000000100', 7: de7(), 11: nextStan(), 41: w.terminal, 42: SP, 48: buildDe48({ SV: 'FUEL' }), 49: '952' },
  });
  t.equal((await term.send(buy())).fields[39], '00', 'approving through the proxy');
  const before = (await store.getCard(db.pool, card.id)).balance;
  proxy.cut();
  const during: string[] = [];
  for (let i = 0; i < 10; i++) during.push(String((await term.send(buy())).fields[39]));
  t.same([...new Set(during)], ['91'], '91 while the database is away');
  t.equal((await store.getCard(db.pool, card.id)).balance, before, 'no money moved');
  const ready = await fetch(`http://127.0.0.1:${sw.metricsPort}/readyz`);
  t.equal(ready.status, 503, 'not ready');
  proxy.restore();
  let back = '';
  for (let i = 0; i < 50 && back !== '00'; i++) {
    back = String((await term.send(buy())).fields[39]);
    if (back !== '00') await sleep(100);
  }
  t.equal(back, '00', 'approving again, same process');
  t.equal(metric(await scrape(sw.metricsPort), 'switch_db_up'), 1);
  const journal = await db.pool.query("SELECT count(*)::int AS n FROM journal WHERE card_id = $1 AND op = 'purchase' AND outcome = 'approved'", [card.id]);
  t.equal(journal.rows[0].n, 2, 'the two approvals the terminal saw are journaled, nothing else');
  t.equal((await store.getCard(db.pool, card.id)).balance, 100_000 - 200);
});

t.test('Redis away: authorizations go on from PostgreSQL; back: the cache is used again', async (t) => {
  const db = await testDb(t);
  const w = await makeWorld(db.pool);
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const r = new URL(REDIS_URL);
  const proxy = await CuttableProxy.start(r.hostname, Number(r.port || 6379));
  t.teardown(() => proxy.close());
  const sw = await testSwitch(t, db, { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, NEAR_CACHE_TTL_MS: '0' });
  const card = await w.card(100_000);
  const term = await TestTerminal.signedOn(sw.port, w.terminal);
  t.teardown(() => term.close());
  const buy = (): IsoMessage => ({
    mti: '0200',
    fields: { 2: card.pan, 14: card.expiry, 3: '000000', 4: '000000000100', 7: de7(), 11: nextStan(), 41: w.terminal, 42: SP, 49: '952' },
  });
  await sleep(200);
  t.equal((await term.send(buy())).fields[39], '00');
  t.equal((await term.send(buy())).fields[39], '00');
  const hits0 = metric(await scrape(sw.metricsPort), 'switch_cache_lookups_total', 'layer="redis",result="hit"');
  t.ok(hits0 >= 1, `Redis hits before the cut: ${hits0}`);
  proxy.cut();
  await sleep(100);
  const codes: string[] = [];
  for (let i = 0; i < 10; i++) codes.push(String((await term.send(buy())).fields[39]));
  t.same([...new Set(codes)], ['00'], 'still approving without Redis');
  const during = await scrape(sw.metricsPort);
  t.equal(metric(during, 'switch_redis_up'), 0, 'metrics say Redis is down');
  t.equal(metric(during, 'switch_cache_lookups_total', 'layer="redis",result="hit"'), hits0, 'no Redis hits while it is away');
  proxy.restore();
  let hits = hits0;
  for (let i = 0; i < 50 && hits === hits0; i++) {
    await sleep(100);
    await term.send(buy());
    hits = metric(await scrape(sw.metricsPort), 'switch_cache_lookups_total', 'layer="redis",result="hit"');
  }
  t.ok(hits > hits0, 'Redis is used again once it is back');
  t.equal(metric(await scrape(sw.metricsPort), 'switch_redis_up'), 1);
});

t.test('graceful shutdown answers what is in flight, then closes', async (t) => {
  const db = await testDb(t, { max: 20 });
  const w = await makeWorld(db.pool);
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const sw = await testSwitch(t, db);
  const card = await w.card(1_000_000);
  const term = await TestTerminal.signedOn(sw.port, w.terminal);
  t.teardown(() => term.close());
  const pending = Array.from({ length: 200 }, () =>
    term.send({
      mti: '0200',
      fields: { 2: card.pan, 14: card.expiry, 3: '000000', 4: '000000000100', 7: de7(), 11: nextStan(), 41: w.terminal, 42: SP, 49: '952' },
    }),
  );
  // closed once the switch has read some of them (a fixed 5 ms wait was, on a slow host, before
  // it had read any: nothing in flight, nothing to answer)
  for (const end = Date.now() + 5000; (await sw.metrics.inFlight.get()).values[0]?.value === 0 && Date.now() < end; ) await sleep(1);
  const closing = sw.close();
  const answers = await Promise.allSettled(pending);
  await closing;
  const answered = answers.filter((a) => a.status === 'fulfilled').map((a) => (a as PromiseFulfilledResult<IsoMessage>).value);
  const approved = answered.filter((a) => a.fields[39] === '00').length;
  const journaled = await db.pool.query("SELECT count(*)::int AS n FROM journal WHERE card_id = $1 AND op = 'purchase' AND outcome = 'approved'", [card.id]);
  t.equal(journaled.rows[0].n, approved, `every approval sent (${approved}) is journaled, none more`);
  t.ok(answered.length > 0, `${answered.length} of 200 in flight were answered before the close`);
  t.ok(await term.waitClosed(), 'the connection is closed');
  await t.rejects(TestTerminal.connect(sw.port), 'no new connections');
});
