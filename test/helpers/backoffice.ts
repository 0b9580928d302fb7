/**
 * A back office for a test file: its own PostgreSQL schema (testDb), its own Redis key
 * prefix (cleaned at teardown), the small world of world.ts, one user and token per role,
 * and the fastify app (requests through app.inject).
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { parseEnv } from '../../db/config.js';
import * as store from '../../db/store.js';
import { buildApp, type CacheClient } from '../../backoffice/app.js';
import { backofficeEnv, type BackofficeConfig } from '../../backoffice/config.js';
import { connectRedis, createRedis } from '../../backoffice/redis.js';
import type { Role } from '../../db/store.js';
import { testDb } from './db.js';
import type { TestContext } from './tap.js';
import { makeWorld, type World } from './world.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const HASH_SECRET = 'test-hash-secret-0123456789';
export { KEK, KEK_HEX } from './switch.js';
import { KEK } from './switch.js';

export interface TestRedis {
  redis: Redis;
  prefix: string;
  /** Every key under the prefix. */
  keys(): Promise<string[]>;
}

/** A Redis connection and a key prefix of this test's own; the keys are deleted at teardown. */
export async function testRedis(t: TestContext): Promise<TestRedis> {
  const prefix = `t:${process.pid}:${randomBytes(4).toString('hex')}:`;
  const redis = createRedis({ url: REDIS_URL, commandTimeoutMs: 2000 });
  if (!(await connectRedis(redis))) throw new Error(`Redis is not answering at ${REDIS_URL}`);
  const keys = async (): Promise<string[]> => {
    const out: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      out.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return out;
  };
  t.teardown(async () => {
    const left = await keys();
    if (left.length) await redis.del(...left);
    redis.disconnect();
  });
  return { redis, prefix, keys };
}

export interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Record<string, unknown>;
  raw: string;
}

export interface Backoffice extends TestRedis {
  app: FastifyInstance;
  pool: pg.Pool;
  schema: string;
  config: BackofficeConfig;
  w: World;
  users: Record<Role, { id: number; token: string }>;
  /** A request; `as` is a role (its user's token), a raw Authorization header value, or null for none. */
  call(as: Role | { header: string } | null, method: string, url: string, body?: unknown): Promise<Reply>;
}

export interface BackofficeOptions {
  /** Another Redis client for the app (a down one, say); the test's own Redis still serves the checks. */
  appRedis?: CacheClient;
  logger?: Parameters<typeof buildApp>[0]['logger'];
  /** More of the back office's environment. */
  env?: Record<string, string>;
}

export async function backoffice(t: TestContext, opts: BackofficeOptions = {}): Promise<Backoffice> {
  const { pool, schema } = await testDb(t);
  const r = await testRedis(t);
  const config = parseEnv(backofficeEnv, { DB_SCHEMA: schema, REDIS_PREFIX: r.prefix, HASH_SECRET, REDIS_URL, BACKOFFICE_CACHE_TIMEOUT_MS: '1000', ...opts.env });
  const w = await makeWorld(pool);
  const users = {} as Backoffice['users'];
  for (const role of ['ADMIN', 'OPERATOR', 'VIEWER'] as const) {
    const u = await store.createUser(pool, { username: role.toLowerCase(), role });
    users[role] = { id: u.id, token: (await store.createToken(pool, { userId: u.id, label: 'test' })).token };
  }
  const app = buildApp({ pool, redis: opts.appRedis ?? r.redis, config, kek: KEK, logger: opts.logger });
  t.teardown(() => app.close());
  const call: Backoffice['call'] = async (as, method, url, body) => {
    const headers: Record<string, string> = {};
    if (as !== null) headers.authorization = typeof as === 'string' ? `Bearer ${users[as].token}` : as.header;
    const res = await app.inject({
      method: method as 'GET',
      url,
      headers,
      ...(body === undefined ? {} : { payload: body as Record<string, unknown> }),
    });
    let parsed: Record<string, unknown> = {};
    try {
      parsed = res.body ? (JSON.parse(res.body) as Record<string, unknown>) : {};
    } catch {
      parsed = {};
    }
    return { status: res.statusCode, body: parsed, headers: res.headers, raw: res.body };
  };
  return { ...r, app, pool, schema, config, w, users, call };
}

let seq = 0;

/** A unique code within this process (each test file has its own schema). */
export function uniq(prefix: string): string {
  return `${prefix}${++seq}`;
}

/** A unique 8-character terminal id (world.ts uses TPE...). */
export function uniqTerminal(): string {
  return `T${String(++seq).padStart(7, '0')}`;
}
