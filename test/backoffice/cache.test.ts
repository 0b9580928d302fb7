/**
 * Cache invalidation: every write that changes what the switch caches deletes the Redis
 * key and publishes the change before the API answers; with Redis down a write is refused
 * (503) and nothing changes; if Redis fails after the commit the answer is 503 too, saying
 * the change was committed.
 */
import t from 'tap';
import type { Redis } from 'ioredis';
import { cacheKey, invalidationChannel, panKey, type Invalidation } from '../../db/cache-keys.js';
import * as store from '../../db/store.js';
import { connectRedis, createRedis } from '../../backoffice/redis.js';
import type { CacheClient } from '../../backoffice/app.js';
import { backoffice, HASH_SECRET, REDIS_URL, uniq, uniqTerminal, type Backoffice } from '../helpers/backoffice.js';
import type { TestContext } from '../helpers/tap.js';

/** A subscriber on the invalidation channel, connected before the calls. */
async function listen(t: TestContext, h: Backoffice): Promise<{ messages: Invalidation[]; waitFor(c: Invalidation): Promise<boolean> }> {
  const sub = createRedis({ url: REDIS_URL, commandTimeoutMs: 2000 });
  await connectRedis(sub);
  t.teardown(() => sub.disconnect());
  const messages: Invalidation[] = [];
  sub.on('message', (_ch: string, m: string) => messages.push(JSON.parse(m) as Invalidation));
  await sub.subscribe(invalidationChannel(h.prefix));
  const has = (c: Invalidation): boolean => messages.some((m) => m.kind === c.kind && m.key === c.key);
  return {
    messages,
    // the message was published before the answer; its delivery to this socket may trail by a tick
    waitFor: async (c) => {
      for (let i = 0; i < 100 && !has(c); i++) await new Promise((r) => setTimeout(r, 10));
      return has(c);
    },
  };
}

const key = (h: Backoffice, c: Invalidation): string => cacheKey(h.prefix, c.kind, c.key);
const cardChange = (pan: string): Invalidation => ({ kind: 'card', key: panKey(pan, HASH_SECRET) });

t.test('virtualization: the card is gone from the cache and the change published before the answer', async (t) => {
  const h = await backoffice(t);
  const bus = await listen(t, h);
  const card = await h.w.card(1000);
  const change = cardChange(card.pan);
  await h.redis.set(key(h, change), JSON.stringify({ id: card.id, profile: { fuel: true } }));
  const other = cardChange((await h.w.card(0)).pan);
  await h.redis.set(key(h, other), 'another card');

  const r = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/virtualize`, { profileId: h.w.virtualization.id });
  t.equal(r.status, 200);
  t.equal(await h.redis.exists(key(h, change)), 0, "the card's record is gone when the API answers");
  t.ok(await bus.waitFor(change), 'the invalidation was published on the channel');
  t.equal(await h.redis.get(key(h, other)), 'another card', 'other cards keep theirs');
  t.notOk(bus.messages.some((m) => m.key === other.key), 'and are not announced');
  t.notMatch(JSON.stringify(bus.messages), card.pan, 'the channel never carries the PAN');
});

t.test('every write that changes a cached record invalidates it', async (t) => {
  const h = await backoffice(t);
  const bus = await listen(t, h);
  const card = await h.w.card(0);
  const spCode = uniq('PS_C');
  const terminalId = uniqTerminal();
  const sp2 = await store.createServicePoint(h.pool, { code: uniq('PS_W'), name: 'w' });

  interface Case {
    what: string;
    /** Changes known before the call (pre-populated in Redis). */
    before: Invalidation[];
    call(): Promise<{ status: number; body: Record<string, unknown> }>;
    /** Changes known only from the answer (a new card's PAN, a new profile's id). */
    after?(body: Record<string, unknown>): Promise<Invalidation[]>;
  }
  const cases: Case[] = [
    { what: 'service point create', before: [{ kind: 'sp', key: spCode }], call: () => h.call('OPERATOR', 'POST', '/service-points', { code: spCode, name: 's' }) },
    {
      what: 'terminal create',
      before: [{ kind: 'terminal', key: terminalId }],
      call: () => h.call('OPERATOR', 'POST', '/terminals', { id: terminalId, servicePointId: h.w.sp.id }),
    },
    { what: 'terminal block', before: [{ kind: 'terminal', key: h.w.terminal2 }], call: () => h.call('OPERATOR', 'POST', `/terminals/${h.w.terminal2}/block`) },
    { what: 'terminal unblock', before: [{ kind: 'terminal', key: h.w.terminal2 }], call: () => h.call('OPERATOR', 'POST', `/terminals/${h.w.terminal2}/unblock`) },
    {
      what: 'profile create',
      before: [],
      call: () => h.call('OPERATOR', 'POST', '/profiles', { clientId: h.w.elton.id, code: 'CACHED', name: 'c', fuel: true }),
      after: async (b) => [{ kind: 'profile', key: String(b.id) }],
    },
    {
      what: 'standard card create',
      before: [],
      call: () => h.call('OPERATOR', 'POST', '/cards', { clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.fuel.id, name: 'c' }),
      after: async (b) => [cardChange(b.pan as string)],
    },
    {
      what: 'virtual card create',
      before: [{ kind: 'sp', key: sp2.code }],
      call: () =>
        h.call('ADMIN', 'POST', '/carte/virtual-cards', { servicePointId: sp2.id, clientId: h.w.elton.id, memberId: h.w.manager.id, profileId: h.w.virtualProfile.id }),
      after: async (b) => [cardChange(b.pan as string)],
    },
    { what: 'card block', before: [cardChange(card.pan)], call: () => h.call('ADMIN', 'POST', `/carte/cards/${card.id}/block`) },
    { what: 'card unblock', before: [cardChange(card.pan)], call: () => h.call('ADMIN', 'POST', `/carte/cards/${card.id}/unblock`) },
    {
      what: 'card profile change',
      before: [cardChange(card.pan)],
      call: () => h.call('ADMIN', 'POST', `/carte/cards/${card.id}/profile`, { profileId: h.w.virtualization.id }),
    },
    {
      what: 'card unvirtualize',
      before: [cardChange(card.pan)],
      call: () => h.call('ADMIN', 'POST', `/carte/cards/${card.id}/unvirtualize`, { profileId: h.w.fuel.id }),
    },
  ];
  for (const c of cases) {
    for (const b of c.before) await h.redis.set(key(h, b), 'stale');
    const r = await c.call();
    t.ok(r.status === 200 || r.status === 201, `${c.what}: ${r.status}`);
    for (const b of c.before) {
      t.equal(await h.redis.exists(key(h, b)), 0, `${c.what}: ${b.kind} key deleted before the answer`);
      t.ok(await bus.waitFor(b), `${c.what}: ${b.kind} change published`);
    }
    for (const a of (await c.after?.(r.body)) ?? []) t.ok(await bus.waitFor(a), `${c.what}: ${a.kind} change published`);
  }
});

/** A Redis client to a port where nothing listens. */
function downRedis(t: TestContext): Redis {
  const r = createRedis({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 300 });
  r.connect().catch(() => {});
  t.teardown(() => r.disconnect());
  return r;
}

t.test('Redis down: a cached change is refused with 503 and nothing is changed', async (t) => {
  const h = await backoffice(t, { appRedis: downRedis(t) });
  const card = await h.w.card(1000);
  const auditBefore = (await h.pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n as number;

  const r = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/virtualize`, { profileId: h.w.virtualization.id });
  t.equal(r.status, 503);
  t.equal(r.body.error, 'cache_unavailable');
  t.equal(r.body.committed, false, 'says nothing was committed');
  t.match(r.body.message, /nothing was changed/);
  t.equal((await store.getCard(h.pool, card.id)).profile_id, h.w.fuel.id, 'the profile is unchanged');
  t.equal((await h.pool.query('SELECT count(*)::int AS n FROM audit_log')).rows[0].n, auditBefore, 'no audit row for a change that did not happen');

  const sp = await h.call('OPERATOR', 'POST', '/service-points', { code: 'PS_DOWN', name: 'd' });
  t.equal(sp.status, 503);
  t.equal((await h.pool.query("SELECT 1 FROM service_points WHERE code = 'PS_DOWN'")).rowCount, 0, 'no service point half-made');

  const recharge = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/recharge`, { amount: 10 });
  t.equal(recharge.status, 200, 'money operations do not touch the cache: they go on');
  const network = await h.call('OPERATOR', 'POST', '/networks', { code: 'NETDOWN', name: 'n' });
  t.equal(network.status, 201, 'nor do writes of uncached things');
  t.equal((await h.call('VIEWER', 'GET', `/carte/cards/${card.id}`)).status, 200, 'reads go on');
  t.equal((await h.call(null, 'GET', '/readyz')).status, 503, 'readiness says Redis is down');
});

t.test('Redis failing after the commit: 503 that says the change was committed', async (t) => {
  // The real Redis, with the second DEL of the request (the one after COMMIT) failing.
  let dels = 0;
  const real: { redis?: Redis } = {};
  const redis = (): Redis => {
    if (!real.redis) throw new Error('not connected yet');
    return real.redis;
  };
  const flaky: CacheClient = {
    del: (...keys: string[]) => (++dels === 2 ? Promise.reject(new Error('connection lost')) : redis().del(...keys)),
    incr: (k) => redis().incr(k),
    publish: (ch, m) => redis().publish(ch, m),
    ping: () => redis().ping(),
  };
  const h = await backoffice(t, { appRedis: flaky });
  real.redis = h.redis;
  const card = await h.w.card(0);
  const r = await h.call('ADMIN', 'POST', `/carte/cards/${card.id}/block`);
  t.equal(r.status, 503);
  t.equal(r.body.committed, true);
  t.match(r.body.message, /committed but the cache could not be invalidated/);
  t.equal((await store.getCard(h.pool, card.id)).status, 'blocked', 'the change stands');
  const audit = await h.pool.query("SELECT 1 FROM audit_log WHERE action = 'card.block' AND entity_id = $1", [String(card.id)]);
  t.equal(audit.rowCount, 1, 'and is audited');
});
