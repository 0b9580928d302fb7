/**
 * A card profile: its five services (carburant, dotation, ticket, transfert, recharge), whether
 * its cards need the cardholder PIN, its limits and validity; the ADMIN edits them (every card with the profile follows at once).
 */
import * as store from '../../../db/store.js';
import * as S from '../../schemas.js';
import { actorOf, can, refusal, type FieldErrors, type WebCtx } from '../context.js';
import type { Msg } from '../i18n.js';
import { h, type Html } from '../jsx.js';
import { Csrf, Field, Flash, Layout } from '../layout.js';
import { field, numberField, type Page } from '../page.js';
import { PATHS } from '../paths.js';

const SERVICES: [keyof store.ProfileFlags, Msg][] = [
  ['fuel', 'serviceFuel'],
  ['dotation', 'serviceDotation'],
  ['ticket', 'serviceTicket'],
  ['transfer', 'serviceTransfer'],
  ['recharge', 'serviceRecharge'],
];

const LIMITS: [string, keyof store.ProfileLimits, Msg][] = [
  ['limitPerTxn', 'limit_per_txn', 'limitPerTxn'],
  ['limitDayAmount', 'limit_day_amount', 'limitDayAmount'],
  ['limitDayCount', 'limit_day_count', 'limitDayCount'],
  ['limitMonthAmount', 'limit_month_amount', 'limitMonthAmount'],
  ['limitMonthCount', 'limit_month_count', 'limitMonthCount'],
];

function ProfilePage({ ctx, p, errors, message, ok }: { ctx: WebCtx; p: store.CardProfile; errors?: FieldErrors; message?: string; ok?: string }): Html {
  const { t } = ctx;
  const admin = can(ctx, 'carte');
  return (
    <Layout ctx={ctx} title={`${p.name} (${p.code})`} crumbs={[t('exploitation'), t('fuelCard'), t('profiles'), p.code]}>
      <Flash ok={ok} bad={message} />
      {p.kind === 'virtual' ? <p class="badge virtual">{t('virtualCard')}</p> : null}
      {store.isVirtualizationProfile(p) ? <p class="badge virtualized">{t('virtualizationProfile')}</p> : null}
      <form class="stack panel" method="post" action={PATHS.profile(p.id)} id="profile-form">
        <Csrf ctx={ctx} />
        <Field label={t('name')} name="name" errors={errors}>
          <input name="name" value={p.name} maxlength="120" disabled={!admin} />
        </Field>
        <fieldset>
          <legend>{t('services')}</legend>
          {SERVICES.map(([key, label]) => (
            <label class="check">
              <input type="checkbox" name={key} id={`service-${key}`} checked={p[key]} disabled={!admin} />
              {t(label)}
            </label>
          ))}
          {SERVICES.map(([key]) => (errors?.[key] ? <p class="field-error" data-field={key}>{errors[key]}</p> : null))}
        </fieldset>
        <label class="check">
          <input type="checkbox" name="pinRequired" id="pin-required" checked={p.pin_required} disabled={!admin} />
          {t('pinRequired')}
        </label>
        {errors?.pinRequired ? <p class="field-error" data-field="pinRequired">{errors.pinRequired}</p> : null}
        <fieldset>
          <legend>{`${t('limits')} (${t('noLimit')})`}</legend>
          {LIMITS.map(([name, column, label]) => (
            <Field label={t(label)} name={name} errors={errors}>
              <input name={name} inputmode="numeric" value={p[column] ?? ''} disabled={!admin} />
            </Field>
          ))}
        </fieldset>
        <Field label={t('validFrom')} name="validFrom" errors={errors}>
          <input name="validFrom" type="date" value={p.valid_from ?? ''} disabled={!admin} />
        </Field>
        <Field label={t('validTo')} name="validTo" errors={errors}>
          <input name="validTo" type="date" value={p.valid_to ?? ''} disabled={!admin} />
        </Field>
        {admin ? (
          <div>
            <button type="submit">{t('save')}</button>
          </div>
        ) : null}
      </form>
    </Layout>
  );
}

function profileId(params: Record<string, string>): number {
  const r = S.ParamId.safeParse(params.id);
  if (!r.success || !/^[0-9]+$/.test(params.id)) throw new store.StoreError('not_found', 'card profile not found');
  return r.data;
}

export const profilePages: Page[] = [
  {
    method: 'GET',
    url: `${PATHS.profiles}/:id`,
    access: 'read',
    handle: async ({ ctx, params, query, services }) => (
      <ProfilePage ctx={ctx} p={await store.getProfile(services.pool, profileId(params))} ok={query.ok ? ctx.t('done') : undefined} />
    ),
  },
  {
    method: 'POST',
    url: `${PATHS.profiles}/:id`,
    access: 'carte',
    handle: async ({ ctx, params, body, services, reply }) => {
      const id = profileId(params);
      // a form sends every field: an unticked box is a service off, an empty limit is no limit
      const change: Record<string, unknown> = { name: field(body, 'name'), validFrom: field(body, 'validFrom') || null, validTo: field(body, 'validTo') || null };
      for (const [key] of SERVICES) change[key] = field(body, key) === 'on';
      change.pinRequired = field(body, 'pinRequired') === 'on';
      for (const [name] of LIMITS) change[name] = numberField(body, name) ?? null;
      try {
        await services.ops.updateProfile(actorOf(ctx), { profileId: id, ...S.ProfileChange.parse(change) });
        return { redirect: `${PATHS.profile(id)}?ok=1` };
      } catch (e) {
        const r = refusal(e, ctx.t);
        void reply.code(r.status);
        const p = await store.getProfile(services.pool, id);
        return <ProfilePage ctx={ctx} p={p} errors={r.fields} message={r.message} />;
      }
    },
  },
];
