/**
 * Wiring of a switch process: PostgreSQL pool and migrations, Redis (commands and
 * invalidation subscription), the directory cache, the ledger batcher, the handler, the TCP
 * listeners and the metrics endpoint. `startSwitch` returns a handle whose `close()` is the
 * graceful shutdown: stop accepting, answer what is in flight, flush the ledger, close.
 */
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type pg from 'pg';
import { createPool } from '../db/pool.js';
import { migrate } from '../db/migrate.js';
import { HOLD_TTL_MS, Ledger, LedgerBatcher, LedgerUnavailableError, expireHolds } from '../db/ledger.js';
import { DirectoryCache } from './cache.js';
import { MemoryBackend, RedisBackend, type CacheBackend } from './cache-backend.js';
import { Handler } from './authorize/handler.js';
import { SwitchServer } from './server.js';
import { SwitchMetrics, startMetricsServer } from './metrics.js';
import { createLogger } from './logger.js';
import { TerminalRateLimiter } from './rate-limit.js';
import { SecurityLog, SessionGuard } from './session.js';
import { CodeGuessGuard } from './code-guard.js';
import { AuthorizationPipeline } from './authorize/pipeline.js';
import { MacGuard } from './security/mac.js';
import { WorkingKeys } from './security/working-keys.js';
import { PinReader } from './security/pin.js';
import type { SwitchConfig } from './config.js';
import type http from 'node:http';

export interface RunningSwitch {
  listeners: { name: string; host: string; port: number; tls: boolean }[];
  metricsPort: number;
  metrics: SwitchMetrics;
  /** Terminal messages refused before they were parsed (served on /security). */
  securityLog: SecurityLog;
  pool: pg.Pool;
  logger: Logger;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  /** Skip migrations (a test migrated already). */
  migrate?: boolean;
  /** A pool to use (and leave open) instead of one of its own: the demo shares one with the back office. */
  pool?: pg.Pool;
  /** A cache backend to use (and leave open): the demo shares its in-process cache with the back office. */
  backend?: CacheBackend;
}

/** Redis at REDIS_URL, or the in-process cache for `memory://`. */
export function createBackend(url: string, commandTimeoutMs: number): CacheBackend {
  if (url.startsWith('memory:')) return new MemoryBackend();
  const options = {
    lazyConnect: false,
    // No auto-pipelining: the switch sends about one command per message per event-loop turn,
    // so there is little to group, and with it the process's young collections promote a lot:
    // ioredis alone, 1,500 commands/s (GET or a script), grew the old generation by 2-4 MB per
    // young collection (4-9 ms) with it, by nothing (0.5 ms) without. The switch with every
    // message a Redis fetch (near cache off), 1,500/s, 8 s: 29-53 young collections above 3 ms
    // and p99 9.7-19.9 ms with it; 3-6 and 7.9-8.9 ms without, CPU per answer no higher
    // (docs/architecture.md).
    enableAutoPipelining: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    retryStrategy: (times: number) => Math.min(times * 200, 2000),
  };
  const redis = new Redis(url, options);
  const subscriber = new Redis(url, { ...options, enableOfflineQueue: true, commandTimeout: undefined });
  for (const r of [redis, subscriber]) r.on('error', () => {});
  return new RedisBackend(redis, subscriber);
}

export async function startSwitch(config: SwitchConfig, opts: StartOptions = {}): Promise<RunningSwitch> {
  const env = config.env;
  const logger = opts.logger ?? createLogger('switch', env.LOG_LEVEL);
  const metrics = new SwitchMetrics();
  if (opts.migrate !== false) {
    const admin = createPool({ url: env.DATABASE_URL, max: 1, name: 'cynod-switch-migrate' });
    try {
      const r = await migrate(admin, env.DB_SCHEMA, (line) => logger.info(line));
      logger.info({ schema: r.schema, migration: r.current }, 'database schema ready');
    } finally {
      await admin.end();
    }
  }
  // Its connections are kept when idle (see PoolOptions.idleTimeoutMillis): a new one plans the
  // ledger's statements at its first batch.
  const pool =
    opts.pool ?? createPool({ url: env.DATABASE_URL, schema: env.DB_SCHEMA, max: env.DB_POOL_MAX, name: 'cynod-switch', connectionTimeoutMillis: 2000, idleTimeoutMillis: 0 });
  // The ledger's own connections, one per batch a lane may have in flight (and one for the hold
  // sweep's): a burst of other reads (terminals signing on together read and write their keys,
  // cache misses read through) used to take every connection of the shared pool, and a ledger
  // batch waited up to 31 ms for one while approvals queued behind it (bench/ci-check.ts at
  // 1,700/s, at each load's start). They start with the ledger's planner settings (db/pool.ts
  // `ledger`), which its batches then need not set: nothing else runs on them.
  const ledgerPool =
    opts.pool ??
    createPool({ url: env.DATABASE_URL, schema: env.DB_SCHEMA, max: env.LEDGER_CONCURRENCY * 2 + 1, name: 'cynod-switch-ledger', connectionTimeoutMillis: 2000, idleTimeoutMillis: 0, ledger: true });
  const backend = opts.backend ?? createBackend(env.REDIS_URL, env.REDIS_COMMAND_TIMEOUT_MS);
  if (backend.kind === 'memory') logger.warn('REDIS_URL=memory://: the cache lives in this process (one switch process only; no Redis)');
  let redisWasUp = true;
  backend.onHealth((up) => {
    if (up && !redisWasUp) logger.info('Redis is back: the cache is in use again');
    if (!up && redisWasUp) logger.warn('Redis is down: authorizing from PostgreSQL');
    redisWasUp = up;
  });

  const cache = new DirectoryCache({
    pool,
    backend,
    prefix: env.REDIS_PREFIX,
    secret: env.HASH_SECRET,
    ttlSeconds: env.CACHE_TTL_SECONDS,
    nearTtlMs: env.NEAR_CACHE_TTL_MS,
    nearMax: env.NEAR_CACHE_MAX,
    metrics,
  });
  await cache.start().catch((e) => logger.warn({ err: (e as Error).message }, 'invalidation subscription not started; near cache off until Redis answers'));

  let dbWasUp = true;
  const ledger = new Ledger(ledgerPool, HOLD_TTL_MS, env.SWITCH_REVERSAL_WINDOW_HOURS * 3_600_000);
  const locks = { hint: metrics.ledgerLocks.labels({ by: 'hint' }), hint_missed: metrics.ledgerLocks.labels({ by: 'hint_missed' }), cards: metrics.ledgerLocks.labels({ by: 'cards' }) };
  ledger.onLock = (by) => locks[by].inc();
  const batcher = new LedgerBatcher(ledger, {
    maxBatch: env.LEDGER_MAX_BATCH,
    concurrency: env.LEDGER_CONCURRENCY,
    overflowAt: env.LEDGER_OVERFLOW_AT,
    gatherMs: env.LEDGER_GATHER_MS,
    gatherItems: env.LEDGER_GATHER_ITEMS,
    onBatch: (size, ms, error) => {
      metrics.batchSize.observe(size);
      metrics.batchSeconds.observe(ms / 1000);
      if (error) {
        metrics.batchErrors.inc();
        if (error instanceof LedgerUnavailableError) {
          metrics.dbUp.set(0);
          if (dbWasUp) logger.error({ err: error.message }, 'PostgreSQL unreachable: answering 91 until it is back');
          dbWasUp = false;
        } else {
          logger.error({ err: (error as Error).message, size }, 'ledger batch failed; splitting it');
        }
      } else {
        metrics.dbUp.set(1);
        if (!dbWasUp) logger.info('PostgreSQL is back: approving again');
        dbWasUp = true;
        // Every answer of the batch waited this long: a disk stall, a lock held elsewhere, a checkpoint.
        if (env.LEDGER_SLOW_MS > 0 && ms >= env.LEDGER_SLOW_MS) logger.warn({ items: size, ms: Math.round(ms) }, 'slow ledger batch');
      }
    },
  });
  metrics.dbUp.set(1);

  const handler = new Handler({
    pool,
    cache,
    batcher,
    secret: env.HASH_SECRET,
    codeGuard: new CodeGuessGuard(env.CODE_GUESS_LIMIT, env.CODE_GUESS_WINDOW_SECONDS * 1000, env.CODE_GUESS_BLOCK_SECONDS * 1000),
    onCodeGuessing: (terminalId, blockedUntil) => {
      metrics.codeGuessBlocks.inc();
      logger.warn({ terminalId, until: new Date(blockedUntil).toISOString() }, 'too many unknown transaction codes from a terminal: its code redemptions are refused (75)');
    },
    workingKeys: new WorkingKeys(pool, config.kek),
    pins: new PinReader(pool, config.kek, env.SWITCH_KEY_GRACE_SECONDS, env.HASH_SECRET),
    onAnswer: (a) => {
      metrics.countRequest(a.mti, a.code);
      if (a.code === '96' || a.code === '91') logger.warn(a, 'request failed');
      else logger.debug(a, 'answered');
    },
  });

  // Expired pre-authorization holds are released through the ledger; a sweep that fails (the
  // database away) is tried again at the next tick.
  let sweeping = false;
  const sweeper =
    env.HOLD_SWEEP_SECONDS > 0
      ? setInterval(() => {
          if (sweeping) return;
          sweeping = true;
          expireHolds(pool, ledger)
            .then((r) => {
              if (r.expired > 0) logger.info({ expired: r.expired }, 'expired pre-authorization holds released');
            })
            .catch((e) => logger.warn({ err: (e as Error).message }, 'hold sweep failed; trying again at the next tick'))
            .finally(() => {
              sweeping = false;
            });
        }, env.HOLD_SWEEP_SECONDS * 1000)
      : undefined;
  sweeper?.unref();

  const securityLog = new SecurityLog(env.SWITCH_SECURITY_LOG_SIZE);
  const macListeners = new Set(config.listeners.filter((l) => l.macRequired).map((l) => l.name));
  const macGuard = macListeners.size > 0 ? new MacGuard(pool, config.kek, env.SWITCH_KEY_GRACE_SECONDS) : undefined;
  const specOf = new Map(config.listeners.map((l) => [l.name, l.spec]));
  const sessions = new SessionGuard(metrics, logger, securityLog);
  const limiter = new TerminalRateLimiter(env.SWITCH_TERMINAL_RATE, env.SWITCH_TERMINAL_BURST);
  const pruner = setInterval(() => limiter.prune(), 60_000);
  pruner.unref();
  const pipeline = new AuthorizationPipeline({ sessions, macGuard, macListeners, specOf, limiter, handler, metrics });
  const server = new SwitchServer(
    config.listeners,
    config.limits,
    (msg, ctx, received) => pipeline.run(msg, ctx, received),
    {
      connection: (listener, open) => metrics.connections.set({ listener }, open),
      refused: (ctx, reason) => sessions.refusedUnread(reason, ctx),
      protocolError: (listener, kind, detail) => {
        metrics.protocolErrors.inc({ listener, kind });
        logger.info({ listener, kind, detail }, 'protocol error');
      },
    },
  );
  const listeners = await server.listen();
  let metricsServer: http.Server | undefined;
  try {
    metricsServer = await startMetricsServer(
      metrics,
      [
        { name: 'postgres', check: async () => void (await pool.query('SELECT 1')) },
        { name: backend.kind === 'redis' ? 'redis' : 'cache (in-process)', check: async () => void (await backend.ping()) },
      ],
      env.METRICS_HOST,
      env.METRICS_PORT,
      securityLog,
    );
  } catch (e) {
    await server.close(0);
    throw e;
  }
  const metricsPort = (metricsServer.address() as { port: number }).port;
  for (const l of listeners) logger.info({ listener: l.name, host: l.host, port: l.port, tls: l.tls }, 'listening for terminals');
  logger.info({ port: metricsPort }, 'metrics and health on /metrics, /healthz, /readyz');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info('shutting down: answering what is in flight');
      clearInterval(pruner);
      clearInterval(sweeper);
      await server.close(env.SWITCH_SHUTDOWN_GRACE_MS);
      await batcher.drain();
      await new Promise<void>((r) => metricsServer?.close(() => r()) ?? r());
      if (!opts.backend) backend.close();
      if (!opts.pool) await Promise.all([pool.end(), ledgerPool.end()]);
      logger.info('stopped');
    })();
    return closing;
  };
  return { listeners, metricsPort, metrics, securityLog, pool, logger, close };
}
