/** Sign-in, sign-out, and the pages of a refusal (403, 404, CSRF, errors). */
import { verifyPassword } from '../../../db/secrets.js';
import * as store from '../../../db/store.js';
import * as S from '../../schemas.js';
import { secureBehindTls, type WebCtx } from '../context.js';
import { h, type Html } from '../jsx.js';
import { Csrf, Field, Flash, Layout } from '../layout.js';
import { field, redirect, type Page } from '../page.js';
import { PATHS } from '../paths.js';

/** Where to go after signing in: a path of ours only (never another host). */
export function safeNext(next: string | undefined): string {
  return next && /^\/(?![/\\])[^\s]*$/.test(next) && !next.startsWith(PATHS.signIn) ? next : PATHS.dashboard;
}

export function SignInPage({ ctx, error, username, next }: { ctx: WebCtx; error?: string; username?: string; next?: string }): Html {
  const { t } = ctx;
  return (
    <Layout ctx={ctx} title={t('signIn')}>
      <div class="panel signin">
        <Flash bad={error} />
        <form class="stack" method="post" action={PATHS.signIn}>
          <Csrf ctx={ctx} />
          <input type="hidden" name="next" value={next ?? ''} />
          <Field label={t('username')} name="username">
            <input name="username" autocomplete="username" required value={username ?? ''} />
          </Field>
          <Field label={t('password')} name="password">
            <input name="password" type="password" autocomplete="current-password" required />
          </Field>
          <button type="submit">{t('signInButton')}</button>
        </form>
      </div>
    </Layout>
  );
}

export function MessagePage({ ctx, title, message }: { ctx: WebCtx; title: string; message: string }): Html {
  return (
    <Layout ctx={ctx} title={title}>
      <Flash bad={message} />
      <p>
        <a href={PATHS.dashboard}>{ctx.t('dashboard')}</a>
      </p>
    </Layout>
  );
}

export interface SignInPolicy {
  maxFailures: number;
  lockSeconds: number;
}

export function systemPages(policy: SignInPolicy): Page[] {
  return [
    {
      method: 'GET',
      url: PATHS.signIn,
      access: 'anyone',
      handle: async ({ ctx, query }) => (ctx.user ? redirect(safeNext(query.next)) : <SignInPage ctx={ctx} next={safeNext(query.next)} />),
    },
    {
      method: 'POST',
      url: PATHS.signIn,
      access: 'anyone',
      rateLimit: 30,
      handle: async ({ ctx, body, services, req, reply }) => {
        const username = field(body, 'username') ?? '';
        const password = (body.password as unknown) ?? '';
        const next = safeNext(field(body, 'next'));
        const pw = typeof password === 'string' ? password.slice(0, 1024) : '';
        // a name that cannot exist costs the same scrypt as a wrong password
        const r = S.Username.safeParse(username).success
          ? await store.signIn(services.pool, username, (hash) => verifyPassword(pw, hash), policy)
          : ((await verifyPassword(pw, null)), { ok: false as const, reason: 'wrong' as const });
        if (!r.ok) {
          const error = r.reason === 'locked' ? ctx.t('signInLocked', { until: r.lockedUntil.toISOString().slice(11, 16) + ' UTC' }) : ctx.t('signInWrong');
          void reply.code(r.reason === 'locked' ? 423 : 401);
          return <SignInPage ctx={ctx} error={error} username={username} next={next} />;
        }
        // a new session id at sign-in: a session fixed before it is worth nothing after
        await req.session.regenerate();
        secureBehindTls(req);
        req.session.set('userId', r.user.id);
        return redirect(next);
      },
    },
    {
      method: 'POST',
      url: PATHS.signOut,
      access: 'read',
      handle: async ({ req }) => {
        await req.session.destroy();
        return redirect(PATHS.signIn);
      },
    },
  ];
}
