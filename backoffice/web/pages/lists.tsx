/**
 * The operator's other pages: dashboard (from the journal), service points (those without a
 * virtual card marked), terminals (security PIN, block), clients and their holders, card
 * profiles, users and the audit log. Every list is paged.
 */
import * as store from '../../../db/store.js';
import { OUTCOME_CODES } from '../../../db/outcome-codes.js';
import type { Outcome } from '../../../db/outcomes.js';
import { ROLES } from '../../roles.js';
import * as S from '../../schemas.js';
import { newPassword } from '../../../db/secrets.js';
import { actorOf, can, refusal, type FieldErrors, type WebCtx } from '../context.js';
import { Fragment, h, type Html } from '../jsx.js';
import { Csrf, Field, Flash, Layout, Pager } from '../layout.js';
import { field, numberField, pageOf, type Page, type PageResult } from '../page.js';
import { PATHS } from '../paths.js';

type Window = { limit: number; offset: number };

/** One row more than shown tells whether there is a next page. */
const plusOne = (p: Window): Window => ({ limit: p.limit + 1, offset: p.offset });

function Table({ ctx, head, rows }: { ctx: WebCtx; head: string[]; rows: Html[] }): Html {
  return (
    <>
      <table>
        <thead>
          <tr>
            {head.map((x) => (
              <th>{x}</th>
            ))}
          </tr>
        </thead>
        <tbody>{rows}</tbody>
      </table>
      {rows.length === 0 ? <p class="muted">{ctx.t('none')}</p> : null}
    </>
  );
}

/** Bars as server-drawn SVG: no chart library, no script. */
function Bars({ items, label }: { items: { label: string; n: number }[]; label: string }): Html {
  const max = Math.max(1, ...items.map((i) => i.n));
  const w = 600;
  const hgt = 140;
  const bw = items.length ? w / items.length : w;
  return (
    <svg class="chart" viewBox={`0 0 ${w} ${hgt + 20}`} role="img" aria-label={label}>
      {items.map((i, k) => {
        const bh = Math.round((i.n / max) * hgt);
        return (
          <g>
            <rect class="bar" x={k * bw + 1} y={hgt - bh} width={Math.max(1, bw - 2)} height={bh}>
              <title>{`${i.label}: ${i.n}`}</title>
            </rect>
            {items.length <= 12 ? (
              <text x={k * bw + bw / 2} y={hgt + 14} text-anchor="middle">
                {i.label}
              </text>
            ) : null}
          </g>
        );
      })}
    </svg>
  );
}

function code(outcome: string): string {
  return (OUTCOME_CODES as Record<string, string>)[outcome as Outcome] ?? '??';
}

async function dashboard(ctx: WebCtx, pool: store.Db): Promise<Html> {
  const { t } = ctx;
  const s = await store.journalStats(pool);
  const rate = s.total ? `${((100 * s.approved) / s.total).toFixed(1)} %` : '—';
  return (
    <Layout ctx={ctx} title={t('dashboard')}>
      <div class="grid">
        <div class="panel">
          <div class="muted">{t('approvalRate')}</div>
          <div class="kpi" id="approval-rate">
            {rate}
          </div>
          <div class="muted">{`${s.approved} / ${s.total}`}</div>
        </div>
        <div class="panel">
          <h2>{t('declinesByCode')}</h2>
          <Bars label={t('declinesByCode')} items={s.declines.map((d) => ({ label: code(d.outcome), n: d.n }))} />
          <ul>
            {s.declines.map((d) => (
              <li>{`${code(d.outcome)} ${d.outcome}: ${d.n}`}</li>
            ))}
          </ul>
        </div>
      </div>
      <div class="panel">
        <h2>{t('authorizationsPerMinute')}</h2>
        <Bars label={t('authorizationsPerMinute')} items={s.perMinute.map((m) => ({ label: m.minute.toISOString().slice(11, 16), n: m.n }))} />
      </div>
      <div class="panel">
        <h2>{t('topServicePoints')}</h2>
        <Bars label={t('topServicePoints')} items={s.topServicePoints.map((m) => ({ label: m.code, n: m.n }))} />
      </div>
    </Layout>
  );
}

async function servicePoints(ctx: WebCtx, pool: store.Db, p: Window, out: { errors?: FieldErrors; message?: string } = {}): Promise<Html> {
  const { t } = ctx;
  const rows = await store.listServicePoints(pool, plusOne(p));
  const establishments = await store.listClients(pool, {}, { limit: 500, offset: 0 });
  const nameOf = new Map(establishments.map((c) => [c.id, c.name]));
  return (
    <Layout ctx={ctx} title={t('servicePoints')} crumbs={[t('exploitation'), t('servicePoints')]}>
      <Flash bad={out.message} />
      {can(ctx, 'manage') ? (
        <form class="inline panel" method="post" action={PATHS.servicePoints} id="form-service-point">
          <Csrf ctx={ctx} />
          <Field label={t('code')} name="code" errors={out.errors}>
            <input name="code" required maxlength="15" />
          </Field>
          <Field label={t('name')} name="name" errors={out.errors}>
            <input name="name" required maxlength="120" />
          </Field>
          <Field label={t('client')} name="clientId" errors={out.errors}>
            <select name="clientId" required>
              <option value="">{t('choose')}</option>
              {establishments.map((c) => (
                <option value={c.id}>{c.name}</option>
              ))}
            </select>
          </Field>
          <button type="submit">{t('createServicePoint')}</button>
        </form>
      ) : null}
      <Table
        ctx={ctx}
        head={[t('code'), t('name'), t('client'), t('virtualCard')]}
        rows={rows.slice(0, p.limit).map((s) => (
          <tr id={`sp-${s.code}`}>
            <td>{s.code}</td>
            <td>{s.name}</td>
            <td>{s.client_id ? <a href={PATHS.client(s.client_id)}>{nameOf.get(s.client_id) ?? String(s.client_id)}</a> : '—'}</td>
            <td>
              {s.virtual_card_id ? (
                <a href={PATHS.card(s.virtual_card_id)}>{store.virtualCardName(s.code)}</a>
              ) : (
                <>
                  <span class="badge bad no-virtual-card">{t('noVirtualCardYet')}</span>{' '}
                  {can(ctx, 'carte') ? <a href={`${PATHS.virtualCardNew}?servicePointId=${s.id}`}>{t('createItsVirtualCard')}</a> : null}
                </>
              )}
            </td>
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.servicePoints} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

async function terminals(ctx: WebCtx, pool: store.Db, p: Window, out: { pin?: { terminalId: string; pin: string; expiresAt: string }; message?: string; ok?: string } = {}): Promise<Html> {
  const { t } = ctx;
  const rows = await store.listAllTerminals(pool, plusOne(p));
  const manage = can(ctx, 'manage');
  return (
    <Layout ctx={ctx} title={t('terminals')} crumbs={[t('exploitation'), t('terminals')]}>
      <Flash ok={out.ok} bad={out.message} />
      {out.pin ? (
        <div class="panel" id="shown-once">
          <p>{`${t('pinShownOnce')} ${out.pin.terminalId}`}</p>
          <p class="secret">{out.pin.pin}</p>
          <p class="muted">{out.pin.expiresAt}</p>
        </div>
      ) : null}
      <Table
        ctx={ctx}
        head={[t('terminal'), t('servicePoint'), t('status'), t('initialized'), ...(manage ? [t('actions')] : [])]}
        rows={rows.slice(0, p.limit).map((x) => (
          <tr id={`terminal-${x.id}`}>
            <td>{x.id}</td>
            <td>{x.service_point_code}</td>
            <td>{x.status}</td>
            <td>{x.initialized_at ? x.initialized_at.toISOString() : t('no')}</td>
            {manage ? (
              <td>
                <form class="inline" method="post" action={`${PATHS.terminals}/${x.id}/pin`}>
                  <Csrf ctx={ctx} />
                  <button type="submit" class="secondary">
                    {t('issuePin')}
                  </button>
                </form>
                <form class="inline" method="post" action={`${PATHS.terminals}/${x.id}/${x.status === 'active' ? 'block' : 'unblock'}`}>
                  <Csrf ctx={ctx} />
                  <button type="submit" class={x.status === 'active' ? 'danger' : 'secondary'}>
                    {x.status === 'active' ? t('block') : t('unblock')}
                  </button>
                </form>
              </td>
            ) : null}
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.terminals} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

async function clients(ctx: WebCtx, pool: store.Db, p: Window): Promise<Html> {
  const { t } = ctx;
  const rows = await store.listClients(pool, {}, plusOne(p));
  return (
    <Layout ctx={ctx} title={t('clients')} crumbs={[t('exploitation'), t('clients')]}>
      <Table
        ctx={ctx}
        head={[t('id'), t('code'), t('name')]}
        rows={rows.slice(0, p.limit).map((c) => (
          <tr>
            <td>{c.id}</td>
            <td>{c.code}</td>
            <td>
              <a href={PATHS.client(c.id)}>{c.name}</a>
            </td>
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.clients} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

async function client(ctx: WebCtx, pool: store.Db, id: number, p: Window, out: { errors?: FieldErrors; message?: string; ok?: string } = {}): Promise<Html> {
  const { t } = ctx;
  const c = await store.getClient(pool, id);
  const rows = await store.listMembers(pool, id, plusOne(p));
  return (
    <Layout ctx={ctx} title={c.name} crumbs={[t('exploitation'), t('clients'), c.name]}>
      <Flash ok={out.ok} bad={out.message} />
      {can(ctx, 'manage') ? (
        <form class="inline panel" method="post" action={`${PATHS.client(id)}/porteurs`} id="form-holder">
          <Csrf ctx={ctx} />
          <Field label={t('name')} name="name" errors={out.errors}>
            <input name="name" required maxlength="120" />
          </Field>
          <Field label={t('kind')} name="kind" errors={out.errors}>
            <select name="kind">
              <option value="member">{t('member')}</option>
              <option value="beneficiary">{t('beneficiary')}</option>
            </select>
          </Field>
          <button type="submit">{t('addHolder')}</button>
        </form>
      ) : null}
      <h2>{`${t('members')} / ${t('beneficiaries')}`}</h2>
      <Table
        ctx={ctx}
        head={[t('id'), t('name'), t('kind')]}
        rows={rows.slice(0, p.limit).map((m) => (
          <tr>
            <td>{m.id}</td>
            <td>{m.name}</td>
            <td>{t(m.kind)}</td>
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.client(id)} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

const SERVICES = ['fuel', 'dotation', 'ticket', 'transfer', 'recharge'] as const;

async function profiles(ctx: WebCtx, pool: store.Db, p: Window): Promise<Html> {
  const { t } = ctx;
  const r = await pool.query<store.CardProfile & { client_code: string }>(
    `SELECT p.id, p.client_id, p.code, p.name, p.kind, p.fuel, p.dotation, p.ticket, p.transfer, p.recharge, c.code AS client_code
     FROM card_profiles p JOIN clients c ON c.id = p.client_id ORDER BY p.id LIMIT $1 OFFSET $2`,
    [p.limit + 1, p.offset],
  );
  const rows = r.rows;
  return (
    <Layout ctx={ctx} title={t('profiles')} crumbs={[t('exploitation'), t('fuelCard'), t('profiles')]}>
      <Table
        ctx={ctx}
        head={[t('client'), t('code'), t('name'), t('kind'), t('services')]}
        rows={rows.slice(0, p.limit).map((x) => (
          <tr id={`profile-${x.id}`}>
            <td>{x.client_code}</td>
            <td>{x.code}</td>
            <td>
              <a href={PATHS.profile(x.id)}>{x.name}</a>{' '}
              {x.kind === 'virtual' ? <span class="badge virtual">{t('virtualCard')}</span> : null}
              {store.isVirtualizationProfile(x) ? <span class="badge virtualized">{t('virtualize')}</span> : null}
            </td>
            <td>{x.kind}</td>
            <td>{SERVICES.filter((s) => x[s]).join(', ')}</td>
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.profiles} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

async function users(
  ctx: WebCtx,
  pool: store.Db,
  p: Window,
  out: { password?: { user: string; password: string }; errors?: FieldErrors; message?: string; ok?: string } = {},
): Promise<Html> {
  const { t } = ctx;
  const rows = await store.listUsers(pool, plusOne(p));
  return (
    <Layout ctx={ctx} title={t('users')} crumbs={[t('administration'), t('users')]}>
      <Flash ok={out.ok} bad={out.message} />
      {out.password ? (
        <div class="panel" id="shown-once">
          <p>{t('passwordShownOnce', { user: out.password.user })}</p>
          <p class="secret">{out.password.password}</p>
        </div>
      ) : null}
      <form class="inline panel" method="post" action={`${PATHS.users}/creation`} id="form-create-user">
        <Csrf ctx={ctx} />
        <Field label={t('username')} name="username" errors={out.errors}>
          <input name="username" required maxlength="64" />
        </Field>
        <Field label={t('role')} name="role" errors={out.errors}>
          <select name="role">
            {ROLES.map((r) => (
              <option value={r}>{r}</option>
            ))}
          </select>
        </Field>
        <button type="submit">{t('createUser')}</button>
      </form>
      <Table
        ctx={ctx}
        head={[t('id'), t('username'), t('role'), t('disabled'), t('actions')]}
        rows={rows.slice(0, p.limit).map((u) => (
          <tr id={`user-${u.username}`}>
            <td>{u.id}</td>
            <td>{u.username}</td>
            <td>{u.role}</td>
            <td>{u.disabled ? t('yes') : t('no')}</td>
            <td>
              <form class="inline" method="post" action={`${PATHS.users}/${u.id}/password`}>
                <Csrf ctx={ctx} />
                <button type="submit" class="secondary">
                  {t('newPassword')}
                </button>
              </form>
              <form class="inline" method="post" action={`${PATHS.users}/${u.id}/${u.disabled ? 'enable' : 'disable'}`}>
                <Csrf ctx={ctx} />
                <button type="submit" class={u.disabled ? 'secondary' : 'danger'}>
                  {u.disabled ? t('enable') : t('disable')}
                </button>
              </form>
            </td>
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.users} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

async function audit(ctx: WebCtx, pool: store.Db, p: Window): Promise<Html> {
  const { t } = ctx;
  const rows = await store.listAudit(pool, {}, plusOne(p));
  return (
    <Layout ctx={ctx} title={t('auditLog')} crumbs={[t('administration'), t('auditLog')]}>
      <Table
        ctx={ctx}
        head={[t('date'), t('who'), t('action'), t('entity'), t('details')]}
        rows={rows.slice(0, p.limit).map((a) => (
          <tr>
            <td>{a.created_at.toISOString()}</td>
            <td>{a.username ?? String(a.details.by ?? '')}</td>
            <td>{a.action}</td>
            <td>{`${a.entity} ${a.entity_id ?? ''}`}</td>
            <td>
              <code>{JSON.stringify(a.details)}</code>
            </td>
          </tr>
        ))}
      />
      <Pager ctx={ctx} base={PATHS.audit} limit={p.limit} offset={p.offset} more={rows.length > p.limit} />
    </Layout>
  );
}

function terminalId(params: Record<string, string>): string {
  const r = S.TerminalId.safeParse(params.id);
  if (!r.success) throw new store.StoreError('not_found', 'terminal not found');
  return r.data;
}

export const listPages: Page[] = [
  { method: 'GET', url: PATHS.dashboard, access: 'read', handle: async ({ ctx, services }) => dashboard(ctx, services.pool) },
  { method: 'GET', url: PATHS.servicePoints, access: 'read', handle: async ({ ctx, services, query }) => servicePoints(ctx, services.pool, pageOf(query)) },
  { method: 'GET', url: PATHS.terminals, access: 'read', handle: async ({ ctx, services, query }) => terminals(ctx, services.pool, pageOf(query)) },
  {
    method: 'POST',
    url: `${PATHS.terminals}/:id/:action`,
    access: 'manage',
    handle: async ({ ctx, services, params, reply }): Promise<PageResult> => {
      const id = terminalId(params);
      const actor = actorOf(ctx);
      try {
        if (params.action === 'pin') {
          const pin = await services.ops.issuePin(actor, { terminalId: id });
          void reply.header('cache-control', 'no-store');
          return terminals(ctx, services.pool, pageOf({}), { pin, ok: ctx.t('done') });
        }
        if (params.action !== 'block' && params.action !== 'unblock') throw new store.StoreError('not_found', `no action ${params.action}`);
        await services.ops.setTerminalStatus(actor, { terminalId: id }, params.action === 'block' ? 'blocked' : 'active');
        return { redirect: PATHS.terminals };
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        return terminals(ctx, services.pool, pageOf({}), { message: r.message });
      }
    },
  },
  {
    method: 'POST',
    url: PATHS.servicePoints,
    access: 'manage',
    handle: async ({ ctx, services, body, reply }): Promise<PageResult> => {
      try {
        const i = S.ServicePointInput.parse({ code: field(body, 'code'), name: field(body, 'name'), clientId: numberField(body, 'clientId') });
        await services.ops.createServicePoint(actorOf(ctx), i);
        return { redirect: PATHS.servicePoints };
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        return servicePoints(ctx, services.pool, pageOf({}), { errors: r.fields, message: r.message });
      }
    },
  },
  {
    method: 'POST',
    url: `${PATHS.clients}/:id/porteurs`,
    access: 'manage',
    handle: async ({ ctx, services, params, body, reply }): Promise<PageResult> => {
      const id = S.ParamId.parse(params.id);
      try {
        await services.ops.createMember(actorOf(ctx), S.MemberInput.parse({ clientId: id, name: field(body, 'name'), kind: field(body, 'kind') }));
        return { redirect: PATHS.client(id) };
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        return client(ctx, services.pool, id, pageOf({}), { errors: r.fields, message: r.message });
      }
    },
  },
  { method: 'GET', url: PATHS.clients, access: 'read', handle: async ({ ctx, services, query }) => clients(ctx, services.pool, pageOf(query)) },
  {
    method: 'GET',
    url: `${PATHS.clients}/:id`,
    access: 'read',
    handle: async ({ ctx, services, query, params }) => client(ctx, services.pool, S.ParamId.parse(params.id), pageOf(query)),
  },
  { method: 'GET', url: PATHS.profiles, access: 'read', handle: async ({ ctx, services, query }) => profiles(ctx, services.pool, pageOf(query)) },
  { method: 'GET', url: PATHS.users, access: 'users', handle: async ({ ctx, services, query }) => users(ctx, services.pool, pageOf(query)) },
  {
    method: 'POST',
    url: `${PATHS.users}/creation`,
    access: 'users',
    handle: async ({ ctx, services, body, reply }): Promise<PageResult> => {
      try {
        const u = await services.ops.createUser(actorOf(ctx), S.UserInput.parse({ username: field(body, 'username'), role: field(body, 'role') }));
        // a new user signs in with a password given once, here
        const password = newPassword();
        await services.ops.setPassword(actorOf(ctx), { userId: u.id, password });
        void reply.header('cache-control', 'no-store');
        return users(ctx, services.pool, pageOf({}), { password: { user: u.username, password }, ok: ctx.t('done') });
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        return users(ctx, services.pool, pageOf({}), { errors: r.fields, message: r.message });
      }
    },
  },
  {
    method: 'POST',
    url: `${PATHS.users}/:id/:action`,
    access: 'users',
    handle: async ({ ctx, services, params, reply }): Promise<PageResult> => {
      const id = S.ParamId.parse(params.id);
      const actor = actorOf(ctx);
      try {
        if (params.action === 'password') {
          const password = newPassword();
          const u = await services.ops.setPassword(actor, { userId: id, password });
          void reply.header('cache-control', 'no-store');
          return users(ctx, services.pool, pageOf({}), { password: { user: u.username, password }, ok: ctx.t('done') });
        }
        if (params.action !== 'disable' && params.action !== 'enable') throw new store.StoreError('not_found', `no action ${params.action}`);
        await services.ops.setUserDisabled(actor, { userId: id }, params.action === 'disable');
        return { redirect: PATHS.users };
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        return users(ctx, services.pool, pageOf({}), { message: r.message });
      }
    },
  },
  { method: 'GET', url: PATHS.audit, access: 'users', handle: async ({ ctx, services, query }) => audit(ctx, services.pool, pageOf(query)) },
];
