/**
 * Store rows as API views (camelCase, ISO dates). A card's view carries its masked PAN
 * only; `newCardView` adds the full PAN for the one answer that creates the card.
 */
import type { z } from 'zod';
import * as store from '../db/store.js';
import type * as S from './schemas.js';

type View<T extends z.ZodType> = z.input<T>;

const iso = (d: Date): string => d.toISOString();
const isoOrNull = (d: Date | null): string | null => (d ? d.toISOString() : null);

export function networkView(n: store.Network): View<typeof S.NetworkView> {
  return { id: n.id, code: n.code, name: n.name };
}

export function clientView(c: store.Client): View<typeof S.ClientView> {
  return { id: c.id, code: c.code, name: c.name, networkId: c.network_id, fundingAccountId: c.funding_account_id };
}

export function memberView(m: store.Member): View<typeof S.MemberView> {
  return { id: m.id, clientId: m.client_id, name: m.name, kind: m.kind, email: m.email, phone: m.phone };
}

export function servicePointView(s: store.ServicePoint): View<typeof S.ServicePointView> {
  return { id: s.id, code: s.code, name: s.name, status: s.status, clientId: s.client_id, virtualCardId: s.virtual_card_id };
}

export function terminalView(t: store.Terminal): View<typeof S.TerminalView> {
  return { id: t.id, servicePointId: t.service_point_id, status: t.status, initializedAt: isoOrNull(t.initialized_at) };
}

export function profileView(p: store.CardProfile): View<typeof S.ProfileView> {
  return {
    id: p.id,
    clientId: p.client_id,
    code: p.code,
    name: p.name,
    kind: p.kind,
    fuel: p.fuel,
    dotation: p.dotation,
    ticket: p.ticket,
    transfer: p.transfer,
    recharge: p.recharge,
    limitPerTxn: p.limit_per_txn,
    limitDayAmount: p.limit_day_amount,
    limitDayCount: p.limit_day_count,
    limitMonthAmount: p.limit_month_amount,
    limitMonthCount: p.limit_month_count,
    validFrom: p.valid_from,
    validTo: p.valid_to,
    pinRequired: p.pin_required,
    virtualization: store.isVirtualizationProfile(p),
  };
}

export function cardView(c: store.Card): View<typeof S.CardView> {
  return {
    id: c.id,
    panMasked: c.panMasked,
    name: c.name,
    clientId: c.client_id,
    memberId: c.member_id,
    profileId: c.profile_id,
    status: c.status,
    expiry: c.expiry,
    isVirtual: c.is_virtual,
    servicePointId: c.service_point_id,
    balance: c.balance,
    held: c.held,
    available: c.available,
    currency: c.currency,
    pinSet: c.pin_set,
    pinBlocked: c.pin_blocked,
  };
}

export function newCardView(c: store.CreatedCard): View<typeof S.NewCardView> {
  return { ...cardView(c), pan: c.pan };
}

export function journalLineView(j: store.JournalLine): View<typeof S.JournalLineView> {
  return {
    id: j.id,
    op: j.op,
    source: j.source,
    outcome: j.outcome,
    terminalId: j.terminal_id,
    stan: j.stan,
    amount: j.amount,
    movement: j.movement,
    originalId: j.original_id,
    reversedBy: j.reversed_by,
    createdAt: iso(j.created_at),
  };
}

export function userView(u: store.User): View<typeof S.UserView> {
  return { id: u.id, username: u.username, role: u.role, disabled: u.disabled };
}

export function auditView(a: store.AuditEntry): View<typeof S.AuditView> {
  return {
    id: a.id,
    userId: a.user_id,
    username: a.username,
    action: a.action,
    entity: a.entity,
    entityId: a.entity_id,
    details: a.details,
    createdAt: iso(a.created_at),
  };
}

export function page<T>(items: T[], p: store.Page): { items: T[]; limit: number; offset: number } {
  return { items, limit: p.limit, offset: p.offset };
}

export { iso, isoOrNull };
