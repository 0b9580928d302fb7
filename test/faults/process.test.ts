// Faults against real switch processes on loopback: kill -9 during a load, two switch
// processes on the same cards, a virtualization through the back office during a load.
// The terminals are the simulator's firmware model (auto-reversal on timeout, repeats).
import t from 'tap';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { spawnSwitch } from '../helpers/process.js';
import { backoffice } from '../helpers/backoffice.js';
import { checkLedger } from '../../db/check.js';
import * as store from '../../db/store.js';
import { Terminal, type Tx } from '../../terminal-sim/terminal.js';
import type pg from 'pg';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function terminals(ids: string[], port: number, extra: Partial<Parameters<typeof Terminal.connect>[0]> = {}): Promise<Terminal[]> {
  return Promise.all(
    ids.map((id) =>
      Terminal.connect({ port, terminalId: id, servicePoint: 'PS_SENOSOFT', initialized: true, timeoutMs: 800, retry: { firstMs: 100, maxMs: 400, attempts: 4 }, ...extra }),
    ),
  );
}

/** Creates n more terminals at PS_SENOSOFT, initialized. */
async function moreTerminals(pool: pg.Pool, spId: number, prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(8 - prefix.length, '0')}`);
  for (const id of ids) await store.createTerminal(pool, { id, servicePointId: spId });
  await pool.query('UPDATE terminals SET initialized_at = now() WHERE id = ANY($1)', [ids]);
  return ids;
}

t.test('kill -9 during a load: every approval the terminals saw is journaled, the rest is absent or reversed', async (t) => {
  const db = await testDb(t, { max: 10 });
  const w = await makeWorld(db.pool);
  const ids = await moreTerminals(db.pool, w.sp.id, 'KIL', 12);
  const cards = await Promise.all(Array.from({ length: 6 }, () => w.card(10_000_000)));
  const first = await spawnSwitch(t, { DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:` });
  const port = first.port;
  const terms = await terminals(ids, port);
  t.teardown(() => Promise.all(terms.map((x) => x.close())));
  const txs: Tx[] = [];
  let running = true;
  const loops = terms.map(async (term, k) => {
    let i = 0;
    while (running) {
      const card = cards[(k + i++) % cards.length];
      const tx = await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 100 + ((k * 31 + i * 7) % 900) });
      txs.push(tx);
      if (tx.code === undefined) await sleep(50);
    }
  });
  await sleep(1500);
  first.child.kill('SIGKILL');
  t.equal(await first.exited, 'SIGKILL', 'the switch was killed');
  await sleep(500);
  await spawnSwitch(t, { DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:`, PORT: String(port) });
  await sleep(1500);
  running = false;
  await Promise.all(loops);
  for (const term of terms) {
    await term.drain();
    for (let i = 0; i < 5 && term.pending.length > 0; i++) await term.flush();
  }
  t.same(terms.map((x) => x.pending.length), terms.map(() => 0), 'every automatic reversal was acknowledged after the restart');

  const seen = txs.filter((x) => x.approved);
  const unanswered = txs.filter((x) => x.code === undefined);
  t.ok(seen.length > 100, `${seen.length} approvals seen, ${unanswered.length} unanswered around the kill`);
  const rows = await db.pool.query<{ terminal_id: string; stan: string; transmission_at: string; amount: number; outcome: string; reversed_by: number | null }>(
    "SELECT terminal_id, stan, transmission_at, amount, outcome, reversed_by FROM journal WHERE op = 'purchase' AND duplicate_of IS NULL",
  );
  const byKey = new Map(rows.rows.map((r) => [`${r.terminal_id}:${r.stan}:${r.transmission_at}`, r]));
  const key = (x: Tx): string => `${String(x.request.fields[41])}:${x.stan}:${x.transmissionDateTime}`;
  let missing = 0;
  let wrongAmount = 0;
  for (const x of seen) {
    const r = byKey.get(key(x));
    if (!r || r.outcome !== 'approved') missing++;
    else if (r.amount !== x.amount) wrongAmount++;
  }
  t.equal(missing, 0, 'every approval the terminals received is in the journal');
  t.equal(wrongAmount, 0, '... with the same amount');
  let charged = 0;
  for (const x of unanswered) {
    const r = byKey.get(key(x));
    if (r && r.outcome === 'approved' && r.reversed_by === null && !x.reversed) charged++;
  }
  t.equal(charged, 0, 'no unanswered purchase stayed charged: absent, declined or reversed');
  // Money: each card's balance is its funding minus what the terminals were told was approved and not reversed.
  const spent = new Map<string, number>();
  for (const x of seen) if (!x.reversed) spent.set(String(x.request.fields[2]), (spent.get(String(x.request.fields[2])) ?? 0) + x.amount);
  for (const c of cards) t.equal((await store.getCard(db.pool, c.id)).balance, 10_000_000 - (spent.get(c.pan) ?? 0), `card ${c.id}: balance to the unit`);
  const check = await checkLedger(db.pool);
  t.ok(check.ok, `ledger check after the crash: ${check.journalRows} journal rows, ${check.entries} entries`);
});

t.test('two switch processes on the same PostgreSQL and Redis: no overdraft, duplicates caught across processes', async (t) => {
  const db = await testDb(t, { max: 10 });
  const w = await makeWorld(db.pool);
  const ids = await moreTerminals(db.pool, w.sp.id, 'TWO', 10);
  const env = { DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:` };
  const [a, b] = await Promise.all([spawnSwitch(t, env), spawnSwitch(t, env)]);
  const viaA = await terminals(ids.slice(0, 5), a.port, { timeoutMs: 5000 });
  const viaB = await terminals(ids.slice(5), b.port, { timeoutMs: 5000 });
  t.teardown(() => Promise.all([...viaA, ...viaB].map((x) => x.close())));
  const card = await w.card(40 * 1_000); // affords 40 purchases of 1,000
  const all = [...viaA, ...viaB];
  const txs = (await Promise.all(all.map((term) => Promise.all(Array.from({ length: 20 }, () => term.purchase({ pan: card.pan, expiry: card.expiry, amount: 1_000 })))))).flat();
  t.equal(txs.filter((x) => x.approved).length, 40, '200 purchases through two processes, exactly 40 approved');
  t.equal((await store.getCard(db.pool, card.id)).balance, 0, 'no overdraft');
  // The same message (same terminal, STAN, DE7) to both processes at once.
  const { Codec, ascii87, Framer, frame } = await import('../../protocol/index.js');
  const net = await import('node:net');
  const codec = new Codec(ascii87);
  const funded = await w.card(100_000);
  const ask = (port: number, bytes: Buffer): Promise<Record<number, unknown>> =>
    new Promise((resolve) => {
      // the terminal signs on first on this connection
      const signOn = frame(codec.encode({ mti: '0800', fields: { 7: '1127150000', 11: '000001', 41: ids[0], 70: '001' } }));
      const s = net.connect(port, '127.0.0.1', () => s.write(Buffer.concat([signOn, bytes])));
      const f = new Framer();
      s.on('data', (d) => f.push(d, (body) => {
        const m = codec.decode(body);
        if (m.mti === '0810') return;
        resolve(m.fields as Record<number, unknown>);
        s.destroy();
      }));
    });
  let duplicatesCaught = 0;
  for (let i = 0; i < 20; i++) {
    const msg = {
      mti: '0200',
      fields: { 2: funded.pan, 14: funded.expiry, 3: '000000', 4: '000000000500', 7: '1127150000', 11: String(900000 + i), 41: ids[0], 42: 'PS_SENOSOFT    ', 49: '952' },
    };
    const bytes = frame(codec.encode(msg));
    const [ra, rb] = await Promise.all([ask(a.port, bytes), ask(b.port, bytes)]);
    if (ra[39] === '00' && rb[39] === '00' && ra[38] === rb[38]) duplicatesCaught++;
  }
  t.equal(duplicatesCaught, 20, 'each message sent to both processes: same answer, same approval code');
  t.equal((await store.getCard(db.pool, funded.id)).balance, 100_000 - 20 * 500, 'charged once each');
  const dups = await db.pool.query("SELECT count(*)::int AS n FROM journal WHERE duplicate_of IS NOT NULL AND terminal_id = $1 AND stan LIKE '9000%'", [ids[0]]);
  t.equal(dups.rows[0].n, 20, 'the second of each pair is journaled as a duplicate');
  t.ok((await checkLedger(db.pool)).ok, 'ledger balanced');
});

t.test('a virtualization through the back office during a load: no approval for that card once the API call returned', async (t) => {
  const h = await backoffice(t);
  const ids = await moreTerminals(h.pool, h.w.sp.id, 'VIR', 6);
  const sw = await spawnSwitch(t, { DB_SCHEMA: h.schema, REDIS_PREFIX: h.prefix, HASH_SECRET: h.config.HASH_SECRET });
  const terms = await terminals(ids, sw.port, { timeoutMs: 5000 });
  t.teardown(() => Promise.all(terms.map((x) => x.close())));
  const card = await h.w.card(100_000_000);
  const sent: { at: number; tx: Tx }[] = [];
  let running = true;
  const loops = terms.map(async (term) => {
    while (running) {
      const at = performance.now();
      sent.push({ at, tx: await term.purchase({ pan: card.pan, expiry: card.expiry, amount: 10 }) });
    }
  });
  await sleep(800);
  const r = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/virtualize`, { profileId: h.w.virtualization.id });
  const returned = performance.now();
  t.equal(r.status, 200, 'virtualized through the API');
  await sleep(800);
  running = false;
  await Promise.all(loops);
  const before = sent.filter((s) => s.at < returned - 50);
  const after = sent.filter((s) => s.at >= returned);
  t.ok(before.filter((s) => s.tx.approved).length > 20, `approvals before the call: ${before.filter((s) => s.tx.approved).length}`);
  t.ok(after.length > 20, `${after.length} purchases sent after the call returned`);
  t.same([...new Set(after.map((s) => s.tx.code))], ['57'], 'every one of them declined 57');
});
