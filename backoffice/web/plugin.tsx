/**
 * The back office's web pages, in their own fastify context next to the JSON API: the form
 * parser, sessions, CSRF, security headers and rate limits apply to the pages only, so the
 * API keeps its JSON-only bodies and bearer tokens.
 *
 * Each page names its access level from roles.ts, like an API route: signed out, a page sends
 * to the sign-in page; a weaker role gets the 403 page. Writes go through Operations, so a
 * page obeys the same rules, and writes the same audit rows, as the API.
 */
import { createHmac } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyFormbody from '@fastify/formbody';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import fastifySession from '@fastify/session';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as store from '../../db/store.js';
import type { BackofficeConfig } from '../config.js';
import { toHttp } from '../errors.js';
import type { Services } from '../route.js';
import { allows, requiredRole } from '../roles.js';
import { APP_CSS, htmxScript } from './assets.js';
import { secureBehindTls, type WebCtx } from './context.js';
import { isLang, translator, type Lang } from './i18n.js';
import { documentOf, h, Html } from './jsx.js';
import type { Page, PageResult } from './page.js';
import { PATHS } from './paths.js';
import { cardPages } from './pages/cards.js';
import { listPages } from './pages/lists.js';
import { profilePages } from './pages/profile.js';
import { MessagePage, systemPages } from './pages/system.js';
import { virtualCardPages } from './pages/virtual-card.js';
import { PgSessionStore } from './session-store.js';

declare module 'fastify' {
  interface Session {
    userId?: number;
  }
  interface FastifyRequest {
    webCtx?: WebCtx;
  }
}

const SESSION_COOKIE = 'cynod_session';
const LANG_COOKIE = 'cynod_lang';
/** Form bodies are small: a few fields. */
const FORM_LIMIT = 16 * 1024;

export interface WebOptions {
  services: Services;
  config: BackofficeConfig;
}

export function sessionSecret(config: BackofficeConfig): string {
  return config.BACKOFFICE_SESSION_SECRET ?? createHmac('sha256', config.HASH_SECRET).update('cynod web session').digest('base64url');
}

function langOf(req: FastifyRequest): Lang {
  const q = (req.query as Record<string, unknown> | undefined)?.lang;
  if (isLang(q)) return q;
  const c = req.cookies[LANG_COOKIE];
  return isLang(c) ? c : 'fr';
}

async function contextOf(req: FastifyRequest, reply: FastifyReply, pool: Services['pool']): Promise<WebCtx> {
  secureBehindTls(req);
  const lang = langOf(req);
  let user: store.User | null = null;
  const id = req.session.get('userId');
  if (typeof id === 'number') {
    user = await store.getUser(pool, id).catch(() => null);
    if (user?.disabled) user = null;
  }
  return { lang, t: translator(lang), user, csrf: reply.generateCsrf(), path: req.url.split('?')[0] };
}

/**
 * The page a browser gets for an address nothing serves (the API's clients get JSON). It is
 * answered outside the pages' context, so it reads the language cookie itself and shows no user.
 */
export function notFoundDocument(req: FastifyRequest): string {
  const q = (req.query as Record<string, unknown> | undefined)?.lang;
  const c = /(?:^|;\s*)cynod_lang=(fr|en)(?:;|$)/.exec(req.headers.cookie ?? '')?.[1];
  const lang: Lang = isLang(q) ? q : isLang(c) ? c : 'fr';
  const t = translator(lang);
  const ctx: WebCtx = { lang, t, user: null, csrf: '', path: req.url.split('?')[0] };
  return documentOf(<MessagePage ctx={ctx} title={t('notFound')} message={t('notFoundText')} />);
}

function send(reply: FastifyReply, r: PageResult): FastifyReply {
  if (r instanceof Html) return reply.type('text/html; charset=utf-8').send(documentOf(r));
  if ('redirect' in r) return reply.redirect(r.redirect, 303);
  return reply.type('text/html; charset=utf-8').send(r.fragment.html);
}

export async function webPages(app: FastifyInstance, opts: WebOptions): Promise<void> {
  const { services, config } = opts;
  const policy = { maxFailures: config.BACKOFFICE_SIGNIN_MAX_FAILURES, lockSeconds: config.BACKOFFICE_SIGNIN_LOCK_SECONDS };

  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'", 'data:'],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
        objectSrc: ["'none'"],
      },
    },
  });
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: sessionSecret(config),
    cookieName: SESSION_COOKIE,
    saveUninitialized: false,
    // Secure is set per request (secureBehindTls): the plugin's own 'auto' would weaken SameSite to Lax over HTTP
    cookie: { httpOnly: true, sameSite: 'strict', secure: false, path: '/', maxAge: config.BACKOFFICE_SESSION_TTL_SECONDS * 1000 },
    store: new PgSessionStore(services.pool, config.BACKOFFICE_SESSION_TTL_SECONDS),
  });
  await app.register(fastifyCsrf, { sessionPlugin: '@fastify/session' });
  await app.register(fastifyFormbody, { bodyLimit: FORM_LIMIT });
  await app.register(fastifyRateLimit, { global: false });

  // a ?lang= choice is remembered
  app.addHook('onRequest', async (req, reply) => {
    const q = (req.query as Record<string, unknown> | undefined)?.lang;
    if (isLang(q)) void reply.setCookie(LANG_COOKIE, q, { path: '/', sameSite: 'strict', httpOnly: true, maxAge: 365 * 86_400 });
  });

  app.setErrorHandler(async (err, req, reply) => {
    const ctx = req.webCtx ?? (await contextOf(req, reply, services.pool).catch(() => null));
    const lang = ctx?.lang ?? 'fr';
    const t = translator(lang);
    const c: WebCtx = ctx ?? { lang, t, user: null, csrf: '', path: req.url.split('?')[0] };
    const code = (err as { code?: string }).code ?? '';
    const status = (err as { statusCode?: number }).statusCode;
    if (code.startsWith('FST_CSRF')) return send(reply.code(403), <MessagePage ctx={c} title={t('forbiddenTitle')} message={t('csrfRefused')} />);
    if (status === 429) return send(reply.code(429), <MessagePage ctx={c} title={t('error')} message={t('signInTooMany')} />);
    const a = toHttp(err);
    if (a.fault) req.log.error({ err, status: a.status }, 'page failed');
    const message = a.status >= 500 && a.status !== 503 ? t('internalError') : a.body.message;
    return send(reply.code(a.status), <MessagePage ctx={c} title={a.status === 404 ? t('notFound') : t('error')} message={message} />);
  });

  app.get(PATHS.htmx, async (_req, reply) => reply.type('application/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(htmxScript()));
  app.get('/favicon.ico', async (_req, reply) => reply.code(204).send());
  app.get(PATHS.css, async (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(APP_CSS));

  const pages: Page[] = [...systemPages(policy), ...virtualCardPages, ...cardPages, ...profilePages, ...listPages];
  for (const p of pages) {
    app.route({
      method: p.method,
      url: p.url,
      config: p.rateLimit ? { rateLimit: { max: p.rateLimit, timeWindow: 60_000 } } : {},
      // every write carries the session's CSRF token (the form's _csrf field)
      preHandler: p.method === 'POST' ? app.csrfProtection : undefined,
      handler: async (req, reply) => {
        const ctx = await contextOf(req, reply, services.pool);
        req.webCtx = ctx;
        if (p.access !== 'anyone') {
          if (!ctx.user) return send(reply, { redirect: `${PATHS.signIn}${req.method === 'GET' ? `?next=${encodeURIComponent(req.url)}` : ''}` });
          if (!allows(ctx.user.role, p.access)) {
            const message = ctx.t('forbidden', { role: requiredRole(p.access) ?? '', actual: ctx.user.role });
            return send(reply.code(403), <MessagePage ctx={ctx} title={ctx.t('forbiddenTitle')} message={message} />);
          }
        }
        const r = await p.handle({
          ctx,
          params: req.params as Record<string, string>,
          query: (req.query ?? {}) as Record<string, string | undefined>,
          body: (req.body ?? {}) as Record<string, string | undefined>,
          services,
          req,
          reply,
        });
        return send(reply, r);
      },
    });
  }
}
