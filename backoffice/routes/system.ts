/** Liveness, readiness, the OpenAPI document and the caller's identity. */
import { z } from 'zod';
import { HttpError } from '../errors.js';
import { actorOf, route } from '../route.js';
import * as S from '../schemas.js';

export const systemRoutes = [
  route({
    method: 'GET',
    url: '/healthz',
    access: 'public',
    tag: 'system',
    summary: 'Liveness: the process answers',
    response: S.HealthView,
    handle: async () => ({ status: 'ok' as const }),
  }),
  route({
    method: 'GET',
    url: '/readyz',
    access: 'public',
    tag: 'system',
    summary: 'Readiness: PostgreSQL and Redis answer (503 otherwise)',
    response: S.ReadyView,
    handle: async ({ services }) => {
      const db = await services.pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
      const redis = await services.redisReady();
      if (!db || !redis) {
        throw new HttpError(503, { error: 'not_ready', message: `db ${db ? 'ok' : 'down'}, redis ${redis ? 'ok' : 'down'}` });
      }
      return { status: 'ready' as const, db: 'ok' as const, redis: 'ok' as const };
    },
  }),
  route({
    method: 'GET',
    url: '/openapi.json',
    access: 'public',
    tag: 'system',
    summary: 'This API as an OpenAPI 3.1 document',
    response: z.record(z.string(), z.unknown()),
    handle: async ({ services }) => services.openapi(),
  }),
  route({
    method: 'GET',
    url: '/me',
    access: 'read',
    tag: 'system',
    summary: 'The user the bearer token belongs to',
    response: S.MeView,
    handle: async (ctx) => {
      const a = actorOf(ctx);
      return { id: a.userId ?? 0, username: a.username, role: a.role ?? 'VIEWER', disabled: false, tokenId: a.tokenId ?? 0 };
    },
  }),
];
