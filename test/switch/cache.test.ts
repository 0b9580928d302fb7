// The switch's cache and the back office's invalidations: what a running switch sees right
// after an API call, and the read-through race (a stale write-back after an invalidation).
import t from 'tap';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { backoffice } from '../helpers/backoffice.js';
import { HASH_SECRET, REDIS_URL, TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import { DirectoryCache } from '../../switch/cache.js';
import { RedisBackend } from '../../switch/cache-backend.js';
import { cacheKey, invalidate, panKey } from '../../db/cache-keys.js';
import * as store from '../../db/store.js';
import { buildDe48, type IsoMessage } from '../../protocol/index.js';

t.test('a change made through the back office API is seen by the next authorization', async (t) => {
  const bo = await backoffice(t);
  await bo.pool.query('UPDATE terminals SET initialized_at = now()');
  const sw = await testSwitch(t, { url: '', schema: bo.schema, pool: bo.pool }, { REDIS_PREFIX: bo.prefix, HASH_SECRET });
  const term = await TestTerminal.signedOn(sw.port, bo.w.terminal);
  t.teardown(() => term.close());
  const card = await bo.w.card(10_000);
  const buy = (): IsoMessage => ({
    mti: '0200',
    fields: { 2: card.pan, 14: card.expiry, 3: '000000', 4: '000000000100', 7: de7(), 11: nextStan(), 41: bo.w.terminal, 42: 'PS_SENOSOFT    ', 48: buildDe48({ SV: 'FUEL' }), 49: '952' },
  });
  for (let i = 0; i < 3; i++) t.equal((await term.send(buy())).fields[39], '00', 'approved (and cached, near and in Redis)');
  const steps: [string, unknown, string][] = [
    [`/carte/cards/${card.id}/virtualize`, { profileId: bo.w.virtualization.id }, '57'],
    [`/carte/cards/${card.id}/unvirtualize`, { profileId: bo.w.fuel.id }, '00'],
    [`/carte/cards/${card.id}/block`, undefined, '62'],
    [`/carte/cards/${card.id}/unblock`, undefined, '00'],
  ];
  for (const [url, body, want] of steps) {
    const r = await bo.call('ADMIN', 'POST', url, body);
    t.equal(r.status, 200, url);
    t.equal((await term.send(buy())).fields[39], want, `right after ${url.split('/').pop()}: ${want}`);
  }
  const blocked = await bo.call('OPERATOR', 'POST', `/terminals/${bo.w.terminal}/block`);
  t.equal(blocked.status, 200);
  t.equal((await term.send(buy())).fields[39], '58', 'a blocked terminal, right after the call');
});

t.test('a record invalidated while it was being read through is not written back stale', async (t) => {
  const bo = await backoffice(t);
  const card = await bo.w.card(0);
  const redis = new Redis(REDIS_URL);
  t.teardown(() => redis.disconnect());
  const cKey = cacheKey(bo.prefix, 'card', panKey(card.pan, HASH_SECRET));
  let racing = true;
  // A pool whose card read lets the back office block the card and invalidate, after the old row was read.
  const pool = new Proxy(bo.pool, {
    get(target, prop) {
      if (prop !== 'query') return Reflect.get(target, prop);
      return async (sql: string, params: unknown[]) => {
        const res = await target.query(sql, params);
        if (racing && /FROM cards WHERE pan_key/.test(sql)) {
          racing = false;
          await store.setCardStatus(bo.pool, card.id, 'blocked');
          await invalidate(redis, bo.prefix, [{ kind: 'card', key: panKey(card.pan, HASH_SECRET) }]);
        }
        return res;
      };
    },
  }) as pg.Pool;
  const cache = new DirectoryCache({ pool, backend: new RedisBackend(redis, null), prefix: bo.prefix, secret: HASH_SECRET, ttlSeconds: 300, nearTtlMs: 0, nearMax: 0 });
  const first = await cache.lookup(bo.w.terminal, 'PS_SENOSOFT', card.pan);
  t.equal(first.card?.status, 'active', 'this lookup saw the row before the change');
  await new Promise((r) => setTimeout(r, 50));
  t.equal(await redis.get(cKey), null, 'but did not write it back over the invalidation');
  const second = await cache.lookup(bo.w.terminal, 'PS_SENOSOFT', card.pan);
  t.equal(second.card?.status, 'blocked', 'the next lookup reads the change');
  await new Promise((r) => setTimeout(r, 50));
  t.match(await redis.get(cKey), /"blocked"/, 'and caches it');
});

t.test('concurrent misses of one record share one database read', async (t) => {
  const bo = await backoffice(t);
  const card = await bo.w.card(0);
  let cardReads = 0;
  let terminalReads = 0;
  const pool = new Proxy(bo.pool, {
    get(target, prop) {
      if (prop !== 'query') return Reflect.get(target, prop);
      return async (sql: string, params: unknown[]) => {
        if (/FROM cards WHERE pan_key/.test(sql)) cardReads++;
        if (/FROM terminals/.test(sql)) terminalReads++;
        return target.query(sql, params);
      };
    },
  }) as pg.Pool;
  // no Redis, no near cache: every lookup misses
  const cache = new DirectoryCache({ pool, backend: null, prefix: bo.prefix, secret: HASH_SECRET, ttlSeconds: 300, nearTtlMs: 0, nearMax: 0 });
  const views = await Promise.all(Array.from({ length: 200 }, () => cache.lookup(bo.w.terminal, 'PS_SENOSOFT', card.pan)));
  t.ok(views.every((v) => v.card?.id === card.id && v.terminal !== null), 'every lookup got the records');
  t.equal(cardReads, 1, 'the card was read once for 200 concurrent lookups');
  t.equal(terminalReads, 1, 'so was the terminal');
  await cache.lookup(bo.w.terminal, 'PS_SENOSOFT', card.pan);
  t.equal(cardReads, 2, 'a later miss reads again (nothing is kept past the read)');
});

t.test('near-cache entries filled together expire at different times, between half the TTL and all of it', async (t) => {
  const bo = await backoffice(t);
  const cards = [];
  for (let i = 0; i < 24; i++) cards.push(await bo.w.card(1_000));
  const { MemoryBackend } = await import('../../switch/cache-backend.js');
  const backend = new MemoryBackend();
  t.teardown(() => backend.close());
  let fetches = 0;
  const fetch = backend.fetch.bind(backend);
  backend.fetch = (...args: Parameters<typeof fetch>) => {
    fetches++;
    return fetch(...args);
  };
  let clock = 1_000_000;
  const ttl = 10_000;
  const cache = new DirectoryCache({ pool: bo.pool, backend, prefix: bo.prefix, secret: HASH_SECRET, ttlSeconds: 300, nearTtlMs: ttl, nearMax: 1_000, now: () => clock });
  await cache.start();
  for (const c of cards) await cache.lookup(bo.w.terminal, 'PS_SENOSOFT', c.pan);
  const near = (cache as unknown as { near: Map<string, { expires: number }> }).near;
  const lives = [...near.values()].map((e) => e.expires - clock);
  t.equal(lives.length, 27, 'the cards, their profile, the terminal and its service point are kept');
  t.ok(lives.every((l) => l >= ttl / 2 && l <= ttl), 'each lives between half the TTL and the TTL');
  t.ok(Math.max(...lives) - Math.min(...lives) > ttl / 4, `and not all the same (${Math.round(Math.min(...lives))}-${Math.round(Math.max(...lives))} ms)`);
  fetches = 0;
  clock += ttl / 2 - 1;
  for (const c of cards) await cache.lookup(bo.w.terminal, 'PS_SENOSOFT', c.pan);
  t.equal(fetches, 0, 'before half the TTL every lookup is answered from memory');
  clock += ttl / 2 + 2;
  for (const c of cards) await cache.lookup(bo.w.terminal, 'PS_SENOSOFT', c.pan);
  t.equal(fetches, cards.length, 'past the TTL every card is read again');
});

t.test('Redis: one MGET for card, terminal and service point; the profile read only when the near cache lacks it', async (t) => {
  const bo = await backoffice(t);
  const cards = [await bo.w.card(1_000), await bo.w.card(2_000)];
  const redis = new Redis(REDIS_URL);
  const subscriber = new Redis(REDIS_URL);
  const backend = new RedisBackend(redis, subscriber);
  t.teardown(() => backend.close());
  const profileReads: string[] = [];
  const get = redis.get.bind(redis);
  redis.get = ((key: string) => {
    if (key.includes(':profile:')) profileReads.push(key);
    return get(key);
  }) as typeof redis.get;
  const mk = (): DirectoryCache => new DirectoryCache({ pool: bo.pool, backend, prefix: bo.prefix, secret: HASH_SECRET, ttlSeconds: 300, nearTtlMs: 60_000, nearMax: 1_000 });
  // a first switch fills Redis from PostgreSQL
  const first = mk();
  await first.start();
  for (const c of cards) t.equal((await first.lookup(bo.w.terminal, 'PS_SENOSOFT', c.pan)).card?.id, c.id);
  // a second one, its near cache empty, finds everything in Redis
  const second = mk();
  await second.start();
  profileReads.length = 0;
  const a = await second.lookup(bo.w.terminal, 'PS_SENOSOFT', cards[0].pan);
  t.equal(a.card?.id, cards[0].id, 'the card from Redis');
  t.equal(a.profile?.id, a.card?.profileId, 'its profile from Redis');
  t.ok(a.terminal !== null && a.servicePoint !== null, 'the terminal and service point from Redis');
  t.equal(profileReads.length, 1, 'the profile read once, the near cache lacking it');
  const b = await second.lookup(bo.w.terminal, 'PS_SENOSOFT', cards[1].pan);
  t.equal(b.card?.id, cards[1].id, 'the second card from Redis');
  t.equal(b.profile?.id, a.profile?.id, 'the same profile');
  t.equal(profileReads.length, 1, 'not read again: the near cache has it');
});
