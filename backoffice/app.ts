/**
 * The back office's HTTP API: a fastify app built from the route table. Each request is
 * authenticated and authorized (auth.ts, roles.ts) before its parts are validated with
 * zod, so an anonymous caller learns nothing about the input rules. Answers are parsed
 * with the route's response schema, which strips anything the view does not declare.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { InvalidationTarget } from '../db/cache-keys.js';
import type { Pool } from '../db/pool.js';
import { authenticateHeader, authorize } from './auth.js';
import { CacheInvalidator } from './cache.js';
import type { BackofficeConfig } from './config.js';
import { InputError, toHttp, type Location } from './errors.js';
import { buildOpenApi } from './openapi.js';
import { Operations } from './operations.js';
import type { Route, Services } from './route.js';
import { ROUTES } from './routes/index.js';
import { notFoundDocument, webPages } from './web/plugin.js';

/** What the app needs of Redis: invalidation, and PING for readiness. */
export interface CacheClient extends InvalidationTarget {
  ping(): Promise<string>;
}

export interface AppDeps {
  pool: Pool;
  redis: CacheClient;
  config: BackofficeConfig;
  /** The key-encryption key of terminal keys (db/kek.ts). */
  kek: Buffer;
  logger?: FastifyBaseLogger;
}

export const API_INFO = { title: 'cynod back office', version: '0.1.0' };

/** Largest request body: back-office requests are small JSON objects. */
const BODY_LIMIT = 64 * 1024;

function parsePart(location: Location, schema: z.ZodType | undefined, value: unknown): unknown {
  if (!schema) return undefined;
  const r = schema.safeParse(location === 'body' ? (value ?? {}) : value);
  if (!r.success) throw new InputError(location, r.error);
  return r.data;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const { pool, redis, config } = deps;
  const cache = new CacheInvalidator(redis, config.REDIS_PREFIX, config.HASH_SECRET, config.BACKOFFICE_CACHE_TIMEOUT_MS);
  const ops = new Operations({ pool, cache, hashSecret: config.HASH_SECRET, pinTtlSeconds: config.BACKOFFICE_PIN_TTL_SECONDS, tokenTtlSeconds: config.BACKOFFICE_TOKEN_TTL_SECONDS, kek: () => deps.kek });
  let doc: Record<string, unknown> | undefined;
  const services: Services = {
    pool,
    ops,
    redisReady: () => redis.ping().then(
      (r) => r === 'PONG',
      () => false,
    ),
    openapi: () => (doc ??= buildOpenApi(ROUTES, API_INFO)),
  };

  const trustProxy = config.BACKOFFICE_TRUST_PROXY;
  const app = deps.logger
    ? Fastify({ loggerInstance: deps.logger, bodyLimit: BODY_LIMIT, trustProxy })
    : Fastify({ logger: false, bodyLimit: BODY_LIMIT, trustProxy });

  // JSON bodies only (anything else is 415): an empty one reads as absent (POST /block
  // with no body); prototype poisoning is refused.
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    json(req, text, done);
  });

  app.setErrorHandler((err, req, reply) => {
    const a = toHttp(err);
    if (a.fault) req.log.error({ err, status: a.status }, 'request failed');
    void reply.code(a.status).headers(a.headers ?? {}).send(a.body);
  });
  app.setNotFoundHandler((req, reply) => {
    // a browser following a stale link gets a page; an API client, JSON
    if (req.method === 'GET' && (req.headers.accept ?? '').includes('text/html')) {
      void reply.code(404).type('text/html; charset=utf-8').header('content-security-policy', "default-src 'self'").send(notFoundDocument(req));
      return;
    }
    void reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` });
  });

  for (const r of ROUTES) register(app, r, services);
  // the pages, in a context of their own (sessions, CSRF, form bodies, security headers)
  void app.register(webPages, { services, config });
  return app;
}

function register(app: FastifyInstance, r: Route, services: Services): void {
  app.route({
    method: r.method,
    url: r.url,
    handler: async (req, reply) => {
      const actor = r.access === 'public' ? null : await authenticateHeader(services.pool, req.headers.authorization);
      if (actor) authorize(actor, r.access);
      const params = parsePart('params', r.params, req.params);
      const query = parsePart('query', r.query, req.query);
      const body = parsePart('body', r.body, req.body);
      const result = await r.handle({ params, query, body, actor, services });
      void reply.code(r.status);
      return r.response.parse(result);
    },
  });
}
