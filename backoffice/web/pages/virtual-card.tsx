/**
 * Exploitation > Carte carburant > Création d'une carte virtuelle, as the source page walks it:
 * the client (the chosen service point's establishment first), the holder (a member or a
 * beneficiary of that client), the profile (its "Carte virtuelle" profiles only), "Pour un
 * point de service" revealing the service points without a virtual card, the name
 * C_VIRT_<service point>, and Enregistrer, which leads to the new card's page. Each change
 * re-renders the form (htmx) with what the choices so far allow.
 */
import * as store from '../../../db/store.js';
import * as S from '../../schemas.js';
import { zodIssues } from '../../errors.js';
import type { Services } from '../../route.js';
import { actorOf, refusal, type FieldErrors, type WebCtx } from '../context.js';
import { h, type Html } from '../jsx.js';
import { Csrf, Field, Flash, Layout } from '../layout.js';
import { field, numberField, redirect, type Page } from '../page.js';
import { PATHS } from '../paths.js';

/** Lists offered in the form's selects (a back office has tens of clients, not thousands). */
const CHOICES = { limit: 500, offset: 0 };

interface Choice {
  clientId?: number;
  memberId?: number;
  profileId?: number;
  forServicePoint: boolean;
  servicePointId?: number;
}

function idOf(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : undefined;
}

function choiceOf(values: Record<string, string | undefined>): Choice {
  return {
    clientId: idOf(numberField(values, 'clientId')),
    memberId: idOf(numberField(values, 'memberId')),
    profileId: idOf(numberField(values, 'profileId')),
    forServicePoint: field(values, 'forServicePoint') === 'on',
    servicePointId: idOf(numberField(values, 'servicePointId')),
  };
}

interface FormData {
  choice: Choice;
  clients: store.Client[];
  establishmentId: number | null;
  holders: store.Member[];
  profiles: store.CardProfile[];
  servicePoints: store.ServicePoint[];
  servicePoint: store.ServicePoint | null;
}

async function load(services: Services, c: Choice): Promise<FormData> {
  const pool = services.pool;
  const free = await store.listServicePoints(pool, CHOICES, { withoutVirtualCard: true });
  const servicePoint = (c.forServicePoint && free.find((s) => s.id === c.servicePointId)) || null;
  const establishmentId = servicePoint?.client_id ?? null;
  const choice: Choice = { ...c, servicePointId: servicePoint?.id };
  // the service point's establishment is the client proposed first, and chosen when none is
  if (choice.clientId === undefined && establishmentId !== null) choice.clientId = establishmentId;
  const all = await store.listClients(pool, {}, CHOICES);
  const clients = [...all.filter((x) => x.id === establishmentId), ...all.filter((x) => x.id !== establishmentId)];
  if (!clients.some((x) => x.id === choice.clientId)) choice.clientId = undefined;
  const [holders, profiles] = choice.clientId
    ? await Promise.all([store.listMembers(pool, choice.clientId, CHOICES), store.listProfiles(pool, choice.clientId, CHOICES)])
    : [[], []];
  const virtualProfiles = profiles.filter((p) => p.kind === 'virtual');
  if (!holders.some((m) => m.id === choice.memberId)) choice.memberId = undefined;
  if (!virtualProfiles.some((p) => p.id === choice.profileId)) choice.profileId = virtualProfiles.length === 1 ? virtualProfiles[0].id : undefined;
  // the chosen client's own service points first
  const servicePoints = [...free.filter((s) => s.client_id === choice.clientId), ...free.filter((s) => s.client_id !== choice.clientId)];
  return { choice, clients, establishmentId, holders, profiles: virtualProfiles, servicePoints, servicePoint };
}

function Holders({ ctx, holders, selected }: { ctx: WebCtx; holders: store.Member[]; selected?: number }): Html {
  const group = (kind: store.HolderKind, label: string) => {
    const list = holders.filter((m) => m.kind === kind);
    return list.length ? (
      <optgroup label={label}>
        {list.map((m) => (
          <option value={m.id} selected={m.id === selected}>
            {`${m.name} (${ctx.t(kind)})`}
          </option>
        ))}
      </optgroup>
    ) : null;
  };
  return (
    <select name="memberId" id="memberId" required>
      <option value="">{ctx.t('choose')}</option>
      {group('member', ctx.t('members'))}
      {group('beneficiary', ctx.t('beneficiaries'))}
    </select>
  );
}

export function VirtualCardForm({ ctx, data, errors }: { ctx: WebCtx; data: FormData; errors?: FieldErrors }): Html {
  const { t } = ctx;
  const { choice } = data;
  return (
    <form id="virtual-card-form" class="stack" method="post" action={PATHS.virtualCardNew}>
      <Csrf ctx={ctx} />
      <Field label={t('client')} name="clientId" errors={errors}>
        <select name="clientId" id="clientId" required>
          <option value="">{t('choose')}</option>
          {data.clients.map((c) => (
            <option value={c.id} selected={c.id === choice.clientId}>
              {c.id === data.establishmentId ? `${c.name} (${t('establishment')})` : c.name}
            </option>
          ))}
        </select>
      </Field>
      <Field label={t('holder')} name="memberId" errors={errors}>
        <Holders ctx={ctx} holders={data.holders} selected={choice.memberId} />
      </Field>
      <Field label={t('cardProfile')} name="profileId" errors={errors}>
        <select name="profileId" id="profileId" required>
          <option value="">{t('choose')}</option>
          {data.profiles.map((p) => (
            <option value={p.id} selected={p.id === choice.profileId}>
              {p.name}
            </option>
          ))}
        </select>
        {choice.clientId && data.profiles.length === 0 ? <span class="muted">{t('noVirtualProfile')}</span> : null}
      </Field>
      <label class="check">
        <input type="checkbox" name="forServicePoint" id="forServicePoint" checked={choice.forServicePoint} />
        {t('forServicePoint')}
      </label>
      {choice.forServicePoint ? (
        <Field label={t('servicePoint')} name="servicePointId" errors={errors}>
          <select name="servicePointId" id="servicePointId" required>
            <option value="">{t('choose')}</option>
            {data.servicePoints.map((s) => (
              <option value={s.id} selected={s.id === choice.servicePointId}>
                {`${s.code} — ${s.name}`}
              </option>
            ))}
          </select>
          {data.servicePoints.length === 0 ? <span class="muted">{t('noFreeServicePoint')}</span> : null}
        </Field>
      ) : errors?.servicePointId ? (
        <p class="field-error" id="error-servicePointId" data-field="servicePointId">
          {errors.servicePointId}
        </p>
      ) : null}
      <label>
        {t('cardName')}
        <input id="cardName" readonly value={data.servicePoint ? store.virtualCardName(data.servicePoint.code) : 'C_VIRT_…'} />
      </label>
      <div>
        <button type="submit">{t('save')}</button>
      </div>
    </form>
  );
}

function VirtualCardPage({ ctx, data, errors, message }: { ctx: WebCtx; data: FormData; errors?: FieldErrors; message?: string }): Html {
  const { t } = ctx;
  return (
    <Layout ctx={ctx} title={t('createVirtualCard')} crumbs={[t('exploitation'), t('fuelCard'), t('createVirtualCard')]}>
      <Flash bad={message} />
      {/* each change re-renders the form with what the choices so far allow; on the form itself,
          htmx would first hold the half-filled form to its required fields */}
      <div
        class="panel"
        hx-get={PATHS.virtualCardForm}
        hx-trigger="change"
        hx-include="#virtual-card-form"
        hx-params="not _csrf"
        hx-target="#virtual-card-form"
        hx-swap="outerHTML"
      >
        <VirtualCardForm ctx={ctx} data={data} errors={errors} />
      </div>
    </Layout>
  );
}

export const virtualCardPages: Page[] = [
  {
    method: 'GET',
    url: PATHS.virtualCardNew,
    access: 'carte',
    handle: async ({ ctx, query, services }) => {
      // from the service points' list: that point, ticked
      const c = choiceOf(query);
      if (c.servicePointId) c.forServicePoint = true;
      return <VirtualCardPage ctx={ctx} data={await load(services, c)} />;
    },
  },
  {
    method: 'GET',
    url: PATHS.virtualCardForm,
    access: 'carte',
    handle: async ({ ctx, query, services }) => ({ fragment: <VirtualCardForm ctx={ctx} data={await load(services, choiceOf(query))} /> }),
  },
  {
    method: 'POST',
    url: PATHS.virtualCardNew,
    access: 'carte',
    handle: async ({ ctx, body, services, reply }) => {
      const c = choiceOf(body);
      const again = async (status: number, errors: FieldErrors, message?: string) => {
        void reply.code(status);
        return <VirtualCardPage ctx={ctx} data={await load(services, c)} errors={errors} message={message} />;
      };
      const input = {
        clientId: numberField(body, 'clientId'),
        memberId: numberField(body, 'memberId'),
        profileId: numberField(body, 'profileId'),
        servicePointId: c.forServicePoint ? numberField(body, 'servicePointId') : undefined,
      };
      const parsed = S.VirtualCardInput.safeParse(Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)));
      if (!parsed.success) {
        const errors: FieldErrors = {};
        for (const i of zodIssues(parsed.error)) errors[i.field] ??= i.message;
        if (!c.forServicePoint) errors.servicePointId = ctx.t('tickForServicePoint');
        return again(400, errors);
      }
      try {
        const card = await services.ops.createVirtualCard(actorOf(ctx), parsed.data);
        return redirect(`${PATHS.card(card.id)}?ok=created`);
      } catch (e) {
        const r = refusal(e, ctx.t);
        return again(r.status, r.fields, r.message);
      }
    },
  },
];
