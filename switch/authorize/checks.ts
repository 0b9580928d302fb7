/**
 * The switch's own checks, on its cached view, in the documented order: terminal and
 * service point, card (or code), status and expiry, profile flags. A failed check declines
 * without waiting for the ledger's locks (the decline is still journaled). Limits and balance
 * are the ledger's, which also re-checks all of these before any approval.
 * Each check is a small function of (request, view, today); the first that answers wins.
 */
import type { Outcome } from '../../db/outcomes.js';
import type { AuthView } from '../cache.js';
import type { FinancialRequest } from './request.js';

export type Check = (req: FinancialRequest, view: AuthView, today: Date) => Outcome | undefined;

const MONEY: ReadonlySet<FinancialRequest['kind']> = new Set(['purchase', 'preauth', 'completion']);
const ON_CARD: ReadonlySet<FinancialRequest['kind']> = new Set(['purchase', 'preauth', 'inquiry']);

export const terminalKnown: Check = (_r, v) => (v.terminal === null ? 'unknown_terminal' : undefined);
export const terminalActive: Check = (_r, v) => (v.terminal?.status !== 'active' ? 'terminal_blocked' : undefined);
export const terminalInitialized: Check = (_r, v) => (v.terminal?.initialized ? undefined : 'terminal_not_initialized');
export const servicePointKnown: Check = (_r, v) => (v.servicePoint === null || v.servicePoint.status !== 'active' ? 'unknown_service_point' : undefined);
export const terminalAtServicePoint: Check = (_r, v) => (v.terminal?.servicePointId !== v.servicePoint?.id ? 'terminal_not_at_service_point' : undefined);
export const servicePointHasVirtualCard: Check = (r, v) => (MONEY.has(r.kind) && (v.servicePoint?.virtualCardId ?? null) === null ? 'no_virtual_card' : undefined);
export const backOfficeOnly: Check = (r) => (r.kind === 'transfer' || r.kind === 'topup' ? 'operation_not_allowed' : undefined);
export const cardKnown: Check = (r, v) => (ON_CARD.has(r.kind) && r.code === undefined && (v.card === null || v.profile === null) ? 'unknown_card' : undefined);
export const cardActive: Check = (r, v) => (v.card && r.code === undefined && v.card.status !== 'active' ? 'card_restricted' : undefined);
export const cardNotExpired: Check = (r, v, today) => {
  if (!v.card || r.code !== undefined) return undefined;
  const [yy, mm] = [Number(v.card.expiry.slice(0, 2)), Number(v.card.expiry.slice(2, 4))];
  // valid through the last day of its month
  if (Date.UTC(2000 + yy, mm, 1) <= today.getTime()) return 'card_expired';
  const day = today.toISOString().slice(0, 10);
  const p = v.profile;
  if (p && ((p.validFrom !== null && day < p.validFrom) || (p.validTo !== null && day > p.validTo))) return 'card_expired';
  return undefined;
};
export const serviceAllowed: Check = (r, v) => {
  const p = v.profile;
  if (!p || r.code !== undefined) return undefined;
  if (r.kind === 'purchase' || r.kind === 'preauth') return p[r.service] ? undefined : 'service_not_allowed';
  if (r.kind === 'inquiry') return p.fuel || p.dotation || p.ticket ? undefined : 'service_not_allowed';
  return undefined;
};
export const amountValid: Check = (r) => ((r.kind === 'purchase' || r.kind === 'preauth') && r.amount <= 0 ? 'invalid_amount' : undefined);

/** The order of DESIGN.md §3: terminal and service point, card or code, status and expiry, flags. */
export const CHECKS: readonly Check[] = [
  terminalKnown,
  terminalActive,
  terminalInitialized,
  servicePointKnown,
  terminalAtServicePoint,
  servicePointHasVirtualCard,
  backOfficeOnly,
  cardKnown,
  cardActive,
  cardNotExpired,
  serviceAllowed,
  amountValid,
];

export function precheck(req: FinancialRequest, view: AuthView, today: Date): Outcome | undefined {
  // A completion or reversal names an original: its card was checked then; only the terminal matters now.
  const checks = req.kind === 'completion' || req.kind === 'reversal' ? CHECKS.slice(0, 6) : CHECKS;
  for (const check of checks) {
    const outcome = check(req, view, today);
    if (outcome !== undefined) return outcome;
  }
  return undefined;
}
