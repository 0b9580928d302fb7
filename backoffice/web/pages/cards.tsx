/**
 * Cards: search (name, client, last 4 digits), and a card's page: balance, holds, journal, and
 * the ADMIN's actions of /carte/* (virtualize with a virtualization profile / un-virtualize,
 * recharge, transfer, transaction code shown once, cardholder PIN made and shown once, block). A virtualized card says so plainly
 * and never looks like a service point's virtual card.
 */
import { PIN_TRIES } from '../../../db/secrets.js';
import * as store from '../../../db/store.js';
import type { Services } from '../../route.js';
import * as S from '../../schemas.js';
import { actorOf, can, refusal, type FieldErrors, type WebCtx } from '../context.js';
import { h, type Html } from '../jsx.js';
import { Csrf, Field, Flash, Layout, money, Pager } from '../layout.js';
import { field, numberField, pageOf, type Page, type PageResult } from '../page.js';
import { PATHS } from '../paths.js';

const ACTIONS = ['virtualize', 'unvirtualize', 'recharge', 'transfer', 'code', 'pin', 'block', 'unblock'] as const;
type CardAction = (typeof ACTIONS)[number];

const TERMINAL_SERVICES = ['fuel', 'dotation', 'ticket'] as const;

interface Outcome {
  action?: CardAction;
  errors?: FieldErrors;
  message?: string;
  ok?: string;
  code?: { code: string; expiresAt: string };
  /** A cardholder PIN the back office made: shown on this answer only. */
  pin?: string;
}

function CardList({ ctx, cards, q, page, more }: { ctx: WebCtx; cards: store.Card[]; q: string; page: { limit: number; offset: number }; more: boolean }): Html {
  const { t } = ctx;
  return (
    <Layout ctx={ctx} title={t('cards')} crumbs={[t('exploitation'), t('fuelCard'), t('cards')]}>
      <form class="inline" method="get" action={PATHS.cards}>
        <label>
          {t('searchCards')}
          <input name="q" value={q} maxlength="60" />
        </label>
        <button type="submit">{t('search')}</button>
      </form>
      <table>
        <thead>
          <tr>
            <th>{t('id')}</th>
            <th>{t('name')}</th>
            <th>{t('pan')}</th>
            <th>{t('status')}</th>
            <th class="num">{t('available')}</th>
          </tr>
        </thead>
        <tbody>
          {cards.map((c) => (
            <tr>
              <td>{c.id}</td>
              <td>
                <a href={PATHS.card(c.id)}>{c.name}</a> {c.is_virtual ? <span class="badge virtual">{t('virtualCard')}</span> : null}
              </td>
              <td>{c.panMasked}</td>
              <td>{c.status}</td>
              <td class="num">{money(c.available)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {cards.length === 0 ? <p class="muted">{t('none')}</p> : null}
      <Pager ctx={ctx} base={`${PATHS.cards}?q=${encodeURIComponent(q)}`} limit={page.limit} offset={page.offset} more={more} />
    </Layout>
  );
}

interface CardData {
  card: store.Card;
  client: store.Client;
  holder: store.Member;
  profile: store.CardProfile;
  profiles: store.CardProfile[];
  servicePoint: store.ServicePoint | null;
  holds: store.OpenHold[];
  journal: store.JournalLine[];
  journalPage: { limit: number; offset: number };
}

async function loadCard(services: Services, id: number, query: Record<string, string | undefined>): Promise<CardData> {
  const pool = services.pool;
  const card = await store.getCard(pool, id);
  const journalPage = pageOf(query);
  const [client, holder, profile, profiles, holds, journal, servicePoint] = await Promise.all([
    store.getClient(pool, card.client_id),
    store.getMember(pool, card.member_id),
    store.getProfile(pool, card.profile_id),
    store.listProfiles(pool, card.client_id, { limit: 500, offset: 0 }),
    store.openHolds(pool, card.id, { limit: 50, offset: 0 }),
    store.cardJournal(pool, card.id, journalPage.limit + 1, journalPage.offset),
    card.service_point_id ? store.getServicePoint(pool, card.service_point_id) : Promise.resolve(null),
  ]);
  return { card, client, holder, profile, profiles, servicePoint, holds, journal, journalPage };
}

function ActionForm({ ctx, card, action, label, danger, children }: { ctx: WebCtx; card: store.Card; action: CardAction; label: string; danger?: boolean; children?: unknown }): Html {
  return (
    <form class="inline" method="post" action={`${PATHS.card(card.id)}/${action}`} id={`form-${action}`}>
      <Csrf ctx={ctx} />
      {children as Html}
      <button type="submit" class={danger ? 'danger' : undefined}>
        {label}
      </button>
    </form>
  );
}

function CardPage({ ctx, d, out }: { ctx: WebCtx; d: CardData; out: Outcome }): Html {
  const { t } = ctx;
  const { card, profile } = d;
  const virtualized = store.isVirtualizationProfile(profile);
  const errs = (a: CardAction) => (out.action === a ? out.errors : undefined);
  const admin = can(ctx, 'carte');
  const virtualizationProfiles = d.profiles.filter((p) => store.isVirtualizationProfile(p));
  const terminalProfiles = d.profiles.filter((p) => p.kind === 'standard' && TERMINAL_SERVICES.some((s) => p[s]));
  const more = d.journal.length > d.journalPage.limit;
  return (
    <Layout ctx={ctx} title={card.name} crumbs={[t('exploitation'), t('fuelCard'), t('cards'), card.name]}>
      <Flash ok={out.ok} bad={out.message} />
      {out.code ? (
        <div class="panel" id="shown-once">
          <p>{t('codeShownOnce')}</p>
          <p class="secret">{out.code.code}</p>
          <p class="muted">{out.code.expiresAt}</p>
        </div>
      ) : null}
      {out.pin ? (
        <div class="panel" id="shown-once">
          <p>{t('cardPinShownOnce')}</p>
          <p class="secret">{out.pin}</p>
        </div>
      ) : null}
      <div class="panel">
        <p>
          {card.is_virtual ? (
            <span class="badge virtual" id="kind">
              {`${t('virtualCard')} ${d.servicePoint?.code ?? ''}`}
            </span>
          ) : null}
          {virtualized ? (
            <span class="badge virtualized" id="kind">
              {t('virtualized')}
            </span>
          ) : null}{' '}
          <span class={`badge ${card.status === 'active' ? 'ok' : 'bad'}`} id="status">
            {card.status}
          </span>
        </p>
        <div class="grid">
          <div>
            <div class="muted">{t('pan')}</div>
            <div id="pan">{card.panMasked}</div>
          </div>
          <div>
            <div class="muted">{t('client')}</div>
            <div>
              <a href={PATHS.client(d.client.id)}>{d.client.name}</a>
            </div>
          </div>
          <div>
            <div class="muted">{t('holder')}</div>
            <div>{`${d.holder.name} (${t(d.holder.kind)})`}</div>
          </div>
          <div>
            <div class="muted">{t('cardProfile')}</div>
            <div id="profile">
              <a href={PATHS.profile(profile.id)}>{profile.name}</a>
            </div>
          </div>
          {!card.is_virtual ? (
            <div>
              <div class="muted">{t('cardPin')}</div>
              <div id="pin-state">{card.pin_blocked ? t('cardPinBlocked', { tries: PIN_TRIES }) : card.pin_set ? t('cardPinSet') : t('cardPinNotSet')}</div>
            </div>
          ) : null}
        </div>
        <div class="grid">
          <div>
            <div class="muted">{t('balance')}</div>
            <div class="kpi" id="balance">
              {money(card.balance)}
            </div>
          </div>
          <div>
            <div class="muted">{t('held')}</div>
            <div class="kpi">{money(card.held)}</div>
          </div>
          <div>
            <div class="muted">{t('available')}</div>
            <div class="kpi" id="available">
              {money(card.available)}
            </div>
          </div>
        </div>
      </div>
      {admin ? (
        <div class="panel" id="actions">
          <h2>{t('actions')}</h2>
          {!card.is_virtual && !virtualized ? (
            <ActionForm ctx={ctx} card={card} action="virtualize" label={t('virtualize')}>
              <Field label={t('cardProfile')} name="profileId" errors={errs('virtualize')}>
                <select name="profileId" required>
                  {virtualizationProfiles.map((p) => (
                    <option value={p.id}>{p.name}</option>
                  ))}
                </select>
              </Field>
            </ActionForm>
          ) : null}
          {virtualized ? (
            <ActionForm ctx={ctx} card={card} action="unvirtualize" label={t('unvirtualize')}>
              <Field label={t('cardProfile')} name="profileId" errors={errs('unvirtualize')}>
                <select name="profileId" required>
                  {terminalProfiles.map((p) => (
                    <option value={p.id}>{p.name}</option>
                  ))}
                </select>
              </Field>
            </ActionForm>
          ) : null}
          <ActionForm ctx={ctx} card={card} action="recharge" label={t('recharge')}>
            <Field label={t('amount')} name="amount" errors={errs('recharge')}>
              <input name="amount" inputmode="numeric" required />
            </Field>
            <Field label={t('note')} name="note" errors={errs('recharge')}>
              <input name="note" maxlength="200" />
            </Field>
          </ActionForm>
          <ActionForm ctx={ctx} card={card} action="transfer" label={t('transfer')}>
            <Field label={t('toCard')} name="toCardId" errors={errs('transfer')}>
              <input name="toCardId" inputmode="numeric" required />
            </Field>
            <Field label={t('amount')} name="amount" errors={errs('transfer')}>
              <input name="amount" inputmode="numeric" required />
            </Field>
          </ActionForm>
          {!card.is_virtual ? (
            <ActionForm ctx={ctx} card={card} action="code" label={t('transactionCode')}>
              <Field label={t('amountMax')} name="amountMax" errors={errs('code')}>
                <input name="amountMax" inputmode="numeric" required />
              </Field>
              <Field label={t('validitySeconds')} name="ttlSeconds" errors={errs('code')}>
                <input name="ttlSeconds" inputmode="numeric" value="3600" required />
              </Field>
            </ActionForm>
          ) : null}
          {!card.is_virtual ? <ActionForm ctx={ctx} card={card} action="pin" label={t('setCardPin')} /> : null}
          {card.status === 'active' ? (
            <ActionForm ctx={ctx} card={card} action="block" label={t('block')} danger />
          ) : (
            <ActionForm ctx={ctx} card={card} action="unblock" label={t('unblock')} />
          )}
        </div>
      ) : null}
      <h2>{t('holds')}</h2>
      <table id="holds">
        <thead>
          <tr>
            <th>{t('id')}</th>
            <th class="num">{t('amount')}</th>
            <th>{t('date')}</th>
          </tr>
        </thead>
        <tbody>
          {d.holds.map((x) => (
            <tr>
              <td>{x.id}</td>
              <td class="num">{money(x.amount)}</td>
              <td>{x.created_at.toISOString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {d.holds.length === 0 ? <p class="muted">{t('none')}</p> : null}
      <h2>{t('journal')}</h2>
      <table id="journal">
        <thead>
          <tr>
            <th>{t('id')}</th>
            <th>{t('action')}</th>
            <th>{t('status')}</th>
            <th>{t('terminal')}</th>
            <th class="num">{t('amount')}</th>
            <th>{t('date')}</th>
          </tr>
        </thead>
        <tbody>
          {d.journal.slice(0, d.journalPage.limit).map((j) => (
            <tr>
              <td>{j.id}</td>
              <td>{`${j.op} (${j.source})`}</td>
              <td>{j.outcome}</td>
              <td>{j.terminal_id ?? ''}</td>
              <td class="num">{money(j.movement)}</td>
              <td>{j.created_at.toISOString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager ctx={ctx} base={PATHS.card(card.id)} limit={d.journalPage.limit} offset={d.journalPage.offset} more={more} />
    </Layout>
  );
}

function cardId(params: Record<string, string>): number {
  const id = Number(params.id);
  if (!Number.isSafeInteger(id) || id <= 0 || !/^[0-9]+$/.test(params.id)) throw new store.StoreError('not_found', 'card not found');
  return id;
}

export const cardPages: Page[] = [
  {
    method: 'GET',
    url: PATHS.cards,
    access: 'read',
    handle: async ({ ctx, query, services }) => {
      const q = (field(query, 'q') ?? '').slice(0, 60);
      const page = pageOf(query);
      const last4 = /^[0-9]{4}$/.test(q) ? q : undefined;
      const cards = await store.searchCards(services.pool, { text: q && !last4 ? q : undefined, last4 }, { limit: page.limit + 1, offset: page.offset });
      return <CardList ctx={ctx} cards={cards.slice(0, page.limit)} q={q} page={page} more={cards.length > page.limit} />;
    },
  },
  {
    method: 'GET',
    url: `${PATHS.cards}/:id`,
    access: 'read',
    handle: async ({ ctx, params, query, services }) => {
      const ok = query.ok === 'created' ? ctx.t('cardCreated') : query.ok ? ctx.t('done') : undefined;
      return <CardPage ctx={ctx} d={await loadCard(services, cardId(params), query)} out={{ ok }} />;
    },
  },
  {
    method: 'POST',
    url: `${PATHS.cards}/:id/:action`,
    access: 'carte',
    handle: async ({ ctx, params, body, services, reply }): Promise<PageResult> => {
      const id = cardId(params);
      const action = ACTIONS.find((a) => a === params.action);
      if (!action) throw new store.StoreError('not_found', `no action ${params.action}`);
      const actor = actorOf(ctx);
      const ops = services.ops;
      const note = field(body, 'note') || undefined;
      let out: Outcome = { action };
      try {
        switch (action) {
          case 'virtualize':
          case 'unvirtualize': {
            const i = S.CardProfileInput.parse({ cardId: id, profileId: numberField(body, 'profileId') });
            await (action === 'virtualize' ? ops.virtualize(actor, i) : ops.unvirtualize(actor, i));
            break;
          }
          case 'recharge':
            await ops.recharge(actor, S.RechargeInput.parse({ cardId: id, amount: numberField(body, 'amount'), note }));
            break;
          case 'transfer':
            await ops.transfer(actor, S.TransferInput.parse({ cardId: id, toCardId: numberField(body, 'toCardId'), amount: numberField(body, 'amount'), note }));
            break;
          case 'code': {
            const c = await ops.createCode(actor, S.CodeInput.parse({ cardId: id, amountMax: numberField(body, 'amountMax'), ttlSeconds: numberField(body, 'ttlSeconds') }));
            out = { action, code: { code: c.code, expiresAt: c.expiresAt }, ok: ctx.t('done') };
            break;
          }
          case 'pin': {
            // the form sets a PIN made here, shown once (a chosen PIN goes through the API)
            const p = await ops.setCardPin(actor, S.CardPinInput.parse({ cardId: id }));
            if ('pin' in p) out = { action, pin: p.pin, ok: ctx.t('done') };
            break;
          }
          case 'block':
          case 'unblock':
            await ops.setCardStatus(actor, S.CardStatusInput.parse({ cardId: id, reason: note }), action === 'block' ? 'blocked' : 'active');
            break;
        }
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        out = { action, errors: r.fields, message: r.message };
      }
      if (!out.message && !out.code && !out.pin) return { redirect: `${PATHS.card(id)}?ok=${action}` };
      // a code or a PIN is shown once: on this answer, never behind a redirect or in a URL
      void reply.header('cache-control', 'no-store');
      return <CardPage ctx={ctx} d={await loadCard(services, id, {})} out={out} />;
    },
  },
];
