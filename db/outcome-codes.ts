/**
 * The one mapping from the ledger's outcomes (./outcomes.ts) and the switch's own verdicts to the
 * response codes of the host interface (protocol/elements/de39.ts). In db/ because the switch
 * answers with it and the back office's pages show journal rows by it.
 */
import type { Outcome } from './outcomes.js';
import type { ResponseCode } from '../protocol/index.js';

/** Verdicts the switch reaches without the ledger. */
export type SwitchVerdict = 'db_unavailable' | 'reconciliation_mismatch' | 'sign_on_refused' | 'no_terminal_key';

export const OUTCOME_CODES: Readonly<Record<Outcome | SwitchVerdict, ResponseCode>> = {
  approved: '00',
  no_session: '58',
  session_terminal_mismatch: '58',
  certificate_terminal_mismatch: '58',
  duplicate_mismatch: '94',
  unsupported_operation: '12',
  unknown_terminal: '58',
  terminal_blocked: '58',
  terminal_not_initialized: '58',
  unknown_service_point: '03',
  terminal_not_at_service_point: '58',
  no_virtual_card: '03',
  operation_not_allowed: '57',
  original_not_found: '25',
  reversal_after_reconciliation: '12',
  reversal_too_late: '12',
  invalid_amount: '13',
  unknown_code: '14',
  code_guessing: '75',
  code_used: '14',
  code_expired: '54',
  code_wrong_service_point: '58',
  code_amount_exceeded: '61',
  unknown_card: '14',
  card_restricted: '62',
  card_expired: '54',
  card_expiry_mismatch: '54',
  pin_missing: '55',
  pin_wrong: '55',
  pin_tries_exceeded: '75',
  currency_mismatch: '13',
  service_not_allowed: '57',
  invalid_transfer: '12',
  transfer_outside_network: '57',
  no_funding_account: '96',
  limit_amount: '61',
  limit_count: '65',
  insufficient_funds: '51',
  format_error: '30',
  unsupported_message: '12',
  system_error: '96',
  db_unavailable: '91',
  reconciliation_mismatch: '95',
  sign_on_refused: '58',
  no_terminal_key: '63',
};

/**
 * What a card check that failed looks like from a balance inquiry: an unknown card. An inquiry
 * answers only a card it could verify, so that it tells nothing about one it could not (that
 * the PAN exists, that its expiry or PIN was wrong) to whoever is guessing card numbers. The
 * journal keeps the real outcome.
 */
const HIDDEN_FROM_INQUIRY: ReadonlySet<string> = new Set<Outcome>(['card_expiry_mismatch', 'pin_missing', 'pin_wrong', 'pin_tries_exceeded']);

/** The response code of an outcome for an operation. */
export function answerCode(outcome: Outcome, op: string): ResponseCode {
  return op === 'inquiry' && HIDDEN_FROM_INQUIRY.has(outcome) ? OUTCOME_CODES.unknown_card : OUTCOME_CODES[outcome];
}
