// make soak: the machine's real PostgreSQL and Redis stopped and started under load (these
// stop the shared servers, so they never run inside make test, where other files use them).
import t from 'tap';
import { execSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { spawnSwitch } from '../helpers/process.js';
import { checkLedger } from '../../db/check.js';
import * as store from '../../db/store.js';
import { Terminal, type Tx } from '../../terminal-sim/terminal.js';
import type { TestContext } from '../helpers/tap.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PG_VERSION = readdirSync('/etc/postgresql')[0];
const pg = (action: 'start' | 'stop'): void => void execSync(`pg_ctlcluster --skip-systemctl-redirect ${PG_VERSION} main ${action}${action === 'stop' ? ' -m fast' : ''}`, { stdio: 'ignore' });
const pgUp = (): boolean => {
  try {
    execSync('pg_isready -h 127.0.0.1 -p 5432 -q');
    return true;
  } catch {
    return false;
  }
};
const redisStart = (): void => void execSync('redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no', { stdio: 'ignore' });
const redisStop = (): void => void execSync('redis-cli -h 127.0.0.1 -p 6379 shutdown nosave', { stdio: 'ignore' });
const redisUp = (): boolean => {
  try {
    return execSync('redis-cli -h 127.0.0.1 -p 6379 ping').toString().trim() === 'PONG';
  } catch {
    return false;
  }
};

async function metric(port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  return line ? Number(line.split(' ').pop()) : NaN;
}

async function load(t: TestContext, port: number, ids: string[], pan: string) {
  const terms = await Promise.all(ids.map((id) => Terminal.connect({ port, terminalId: id, servicePoint: 'PS_SENOSOFT', initialized: true, timeoutMs: 1500, retry: { firstMs: 200, maxMs: 1000, attempts: 5 } })));
  t.teardown(() => Promise.all(terms.map((x) => x.close())));
  const txs: { at: number; tx: Tx }[] = [];
  let running = true;
  const loops = terms.map(async (term) => {
    while (running) {
      const at = Date.now();
      const tx = await term.purchase({ pan, amount: 100 });
      txs.push({ at, tx });
      if (!tx.approved) await sleep(20);
    }
  });
  return {
    txs,
    terms,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      for (const term of terms) {
        await term.drain();
        for (let i = 0; i < 10 && term.pending.length > 0; i++) await term.flush();
      }
    },
  };
}


t.test('PostgreSQL stopped and started during a load', async (t) => {
  const db = await testDb(t);
  t.teardown(() => {
    if (!pgUp()) pg('start');
  });
  const w = await makeWorld(db.pool);
  const ids = ['SOAKPG01', 'SOAKPG02', 'SOAKPG03', 'SOAKPG04'];
  for (const id of ids) await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const card = await w.card(100_000_000);
  const sw = await spawnSwitch(t, { DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:` });
  const run = await load(t, sw.port, ids, card.pan);
  await sleep(2000);
  const down = Date.now();
  pg('stop');
  await sleep(4000);
  const up = Date.now();
  pg('start');
  for (let i = 0; i < 100 && !pgUp(); i++) await sleep(100);
  await sleep(4000);
  await run.stop();
  t.equal(sw.child.exitCode, null, 'the switch did not exit');
  const during = run.txs.filter((x) => x.at > down + 200 && x.at < up);
  t.ok(during.length > 5, `${during.length} purchases while PostgreSQL was down`);
  t.equal(during.filter((x) => x.tx.approved).length, 0, 'no approval while it was down');
  t.ok(during.filter((x) => x.tx.code === '91').length > 0, 'answered 91');
  const after = run.txs.filter((x) => x.at > up + 3000);
  t.ok(after.length > 0 && after.every((x) => x.tx.approved), `approving again by itself (${after.length} after the restart)`);
  const seen = run.txs.filter((x) => x.tx.approved && !x.tx.reversed).length;
  t.equal((await store.getCard(db.pool, card.id)).balance, 100_000_000 - 100 * seen, 'every approval seen is charged, nothing else');
  t.ok((await checkLedger(db.pool)).ok, 'ledger check');
});

t.test('Redis stopped and started during a load', async (t) => {
  const db = await testDb(t);
  t.teardown(() => {
    if (!redisUp()) redisStart();
  });
  const w = await makeWorld(db.pool);
  const ids = ['SOAKRD01', 'SOAKRD02', 'SOAKRD03'];
  for (const id of ids) await store.createTerminal(db.pool, { id, servicePointId: w.sp.id });
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const card = await w.card(100_000_000);
  const sw = await spawnSwitch(t, { DB_SCHEMA: db.schema, REDIS_PREFIX: `${db.schema}:`, NEAR_CACHE_TTL_MS: '0' });
  const run = await load(t, sw.port, ids, card.pan);
  await sleep(2000);
  const hits0 = await metric(sw.metricsPort, 'switch_cache_lookups_total', 'layer="redis",result="hit"');
  const down = Date.now();
  redisStop();
  await sleep(3000);
  t.equal(await metric(sw.metricsPort, 'switch_redis_up'), 0, 'metrics say Redis is down');
  const up = Date.now();
  redisStart();
  for (let i = 0; i < 50 && !redisUp(); i++) await sleep(100);
  await sleep(4000);
  await run.stop();
  const during = run.txs.filter((x) => x.at > down + 300 && x.at < up);
  t.ok(during.length > 10 && during.every((x) => x.tx.approved), `authorizations went on from PostgreSQL (${during.length} while Redis was down)`);
  t.ok((await metric(sw.metricsPort, 'switch_cache_lookups_total', 'layer="redis",result="hit"')) > hits0, 'the cache is used again');
  t.equal(await metric(sw.metricsPort, 'switch_redis_up'), 1);
  t.ok((await checkLedger(db.pool)).ok, 'ledger check');
});
