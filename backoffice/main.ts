/**
 * The back-office service: reads its environment (config.ts), migrates DB_SCHEMA, serves
 * the HTTP API, logs JSON (pino), and shuts down gracefully on SIGTERM/SIGINT: it stops
 * accepting, answers what is in flight, then closes PostgreSQL and Redis.
 */
import { pino } from 'pino';
import { ConfigError, parseEnv, refuseDevelopmentSecrets } from '../db/config.js';
import { loadKek } from '../db/kek.js';
import { migrate } from '../db/migrate.js';
import { createPool } from '../db/pool.js';
import { buildApp } from './app.js';
import { backofficeEnv } from './config.js';
import { connectRedis, createRedis } from './redis.js';

/** Redis errors repeat on every reconnection attempt: log one per interval. */
const REDIS_ERROR_LOG_INTERVAL_MS = 10_000;

async function main(): Promise<void> {
  let config;
  let kek: Buffer;
  try {
    config = parseEnv(backofficeEnv);
    refuseDevelopmentSecrets(config);
    kek = loadKek();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }
  const logger = pino({ level: config.LOG_LEVEL, base: { service: 'backoffice' }, redact: ['req.headers.authorization'] });
  const pool = createPool({ url: config.DATABASE_URL, schema: config.DB_SCHEMA, max: config.DB_POOL_MAX, name: 'cynod-backoffice' });
  const m = await migrate(pool, config.DB_SCHEMA, (line) => logger.info(line));
  logger.info({ schema: m.schema, migration: m.current }, 'database ready');

  let lastRedisError = 0;
  const redis = createRedis({
    url: config.REDIS_URL,
    commandTimeoutMs: config.BACKOFFICE_CACHE_TIMEOUT_MS,
    onError: (err) => {
      if (Date.now() - lastRedisError < REDIS_ERROR_LOG_INTERVAL_MS) return;
      lastRedisError = Date.now();
      logger.warn({ err: err.message }, 'Redis error: writes that change cached records answer 503 until it is back');
    },
  });
  if (!(await connectRedis(redis))) logger.warn('Redis unreachable at start: writes that change cached records answer 503 until it is back');

  const app = buildApp({ pool, redis, config, kek, logger });
  await app.listen({ host: config.BACKOFFICE_HOST, port: config.BACKOFFICE_PORT });

  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down: no new requests, finishing those in flight');
    try {
      await app.close();
      await pool.end();
      redis.disconnect();
      logger.info('stopped');
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`backoffice failed to start: ${(err as Error)?.stack ?? String(err)}`);
  process.exit(1);
});
