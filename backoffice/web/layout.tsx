/** The frame of every page: head, menu (by role), who is signed in, language, and shared widgets. */
import { h, Fragment, type Child, type Html } from './jsx.js';
import { can, type WebCtx, type FieldErrors } from './context.js';
import { PATHS } from './paths.js';

void Fragment;

function Menu({ ctx }: { ctx: WebCtx }): Html {
  const { t } = ctx;
  return (
    <nav class="menu" aria-label="menu">
      <ul>
        <li>
          <a href={PATHS.dashboard}>{t('dashboard')}</a>
        </li>
        <li>
          <span tabindex="0">{t('exploitation')}</span>
          <ul>
            <li>
              <span>{t('fuelCard')}</span>
              <ul>
                {can(ctx, 'carte') ? (
                  <li>
                    <a href={PATHS.virtualCardNew}>{t('createVirtualCard')}</a>
                  </li>
                ) : null}
                <li>
                  <a href={PATHS.cards}>{t('cards')}</a>
                </li>
                <li>
                  <a href={PATHS.profiles}>{t('profiles')}</a>
                </li>
              </ul>
            </li>
            <li>
              <a href={PATHS.servicePoints}>{t('servicePoints')}</a>
            </li>
            <li>
              <a href={PATHS.terminals}>{t('terminals')}</a>
            </li>
            <li>
              <a href={PATHS.clients}>{t('clients')}</a>
            </li>
          </ul>
        </li>
        {can(ctx, 'users') ? (
          <li>
            <span tabindex="0">{t('administration')}</span>
            <ul>
              <li>
                <a href={PATHS.users}>{t('users')}</a>
              </li>
              <li>
                <a href={PATHS.audit}>{t('auditLog')}</a>
              </li>
            </ul>
          </li>
        ) : null}
      </ul>
    </nav>
  );
}

export function Layout({ ctx, title, crumbs, children }: { ctx: WebCtx; title: string; crumbs?: string[]; children?: Child }): Html {
  const { t } = ctx;
  const other = ctx.lang === 'fr' ? 'en' : 'fr';
  return (
    <html lang={ctx.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorStyles":false}' />
        <title>{`${title} — cynod`}</title>
        <link rel="stylesheet" href={PATHS.css} />
        <script src={PATHS.htmx} defer></script>
      </head>
      <body>
        <header>
          <span class="brand">cynod</span>
          {ctx.user ? <Menu ctx={ctx} /> : null}
          <div class="who">
            <a href={`${ctx.path}?lang=${other}`} hreflang={other}>
              {t('language')}
            </a>
            {ctx.user ? (
              <>
                <span>{t('signedInAs', { user: ctx.user.username, role: ctx.user.role })}</span>
                <form method="post" action={PATHS.signOut}>
                  <input type="hidden" name="_csrf" value={ctx.csrf} />
                  <button class="link" type="submit">
                    {t('signOut')}
                  </button>
                </form>
              </>
            ) : null}
          </div>
        </header>
        <main>
          {crumbs ? <p class="crumbs">{crumbs.join(' > ')}</p> : null}
          <h1>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  );
}

export function Csrf({ ctx }: { ctx: WebCtx }): Html {
  return <input type="hidden" name="_csrf" value={ctx.csrf} />;
}

/** A labelled control with the API's message for it, if any, right below. */
export function Field({ label, name, errors, children }: { label: string; name: string; errors?: FieldErrors; children?: Child }): Html {
  const e = errors?.[name];
  return (
    <label>
      {label}
      {children}
      {e ? (
        <p class="field-error" id={`error-${name}`} data-field={name}>
          {e}
        </p>
      ) : null}
    </label>
  );
}

export function Flash({ ok, bad }: { ok?: string | null; bad?: string | null }): Html {
  return (
    <>
      {ok ? <p class="flash ok" role="status">{ok}</p> : null}
      {bad ? <p class="flash bad" role="alert">{bad}</p> : null}
    </>
  );
}

/** Previous / next links of a list read with one row more than shown. */
export function Pager({ ctx, base, limit, offset, more }: { ctx: WebCtx; base: string; limit: number; offset: number; more: boolean }): Html {
  const sep = base.includes('?') ? '&' : '?';
  return (
    <nav class="pager" aria-label="pages">
      {offset > 0 ? <a href={`${base}${sep}offset=${Math.max(0, offset - limit)}&limit=${limit}`}>{ctx.t('previous')}</a> : null}
      {more ? <a href={`${base}${sep}offset=${offset + limit}&limit=${limit}`}>{ctx.t('next')}</a> : null}
    </nav>
  );
}

/** Amounts in XOF (no decimals), grouped by thousands. */
export function money(n: number): string {
  return `${n.toLocaleString('fr-FR').replace(/\u202f|\u00a0/g, ' ')} XOF`;
}
