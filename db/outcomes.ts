/**
 * The ledger's verdicts: the one list of them. The rules (db/ledger/rules.ts)
 * return these names; the switch maps them to response codes (switch/authorize/response-codes.ts)
 * and the back office to HTTP answers. The Outcome type makes the rules name only these.
 */
export const OUTCOMES = {
  approved: 'the operation took effect (or, for a reversal, there was nothing left to undo)',
  no_session: 'no signed-on session on this connection: the terminal did not sign on (0800, DE70 001) on it, or signed off',
  session_terminal_mismatch: "DE41 other than the connection's session's terminal (the connection is closed)",
  certificate_terminal_mismatch: "mutual TLS: DE41 is not a terminal the connection's client certificate names (the connection is closed)",
  duplicate_mismatch: 'same terminal, STAN and DE7 as an earlier message, different content',
  unsupported_operation: 'not an operation the ledger knows',
  unknown_terminal: 'no such terminal',
  terminal_blocked: 'the terminal is blocked',
  terminal_not_initialized: 'the terminal never signed on with its security PIN',
  unknown_service_point: 'DE42 names no active service point',
  terminal_not_at_service_point: "the terminal does not belong to DE42's service point",
  no_virtual_card: 'the service point has no virtual card to credit',
  operation_not_allowed: 'a back-office operation from a terminal, or a flag of the profile is off',
  original_not_found: 'the completion or reversal names no original that can take it',
  reversal_after_reconciliation: "a reversal of an original its terminal's balanced reconciliation already counted",
  reversal_too_late: 'a reversal of an original older than the reversal window (SWITCH_REVERSAL_WINDOW_HOURS, 24 h by default)',
  invalid_amount: 'amount missing, zero, or above what the original held',
  unknown_code: 'no such transaction code',
  code_guessing: 'too many unknown transaction codes from this terminal lately: its code redemptions are refused for a while',
  code_used: 'the transaction code was already redeemed',
  code_expired: 'the transaction code has expired',
  code_wrong_service_point: 'the transaction code is bound to another service point',
  code_amount_exceeded: "amount above the transaction code's ceiling",
  unknown_card: 'no such card',
  card_restricted: 'card blocked, opposed or cancelled',
  card_expired: "card past its expiry, or outside its profile's validity",
  card_expiry_mismatch: "the expiry the message presents (DE14, track 2) is not the card's",
  pin_missing: "the profile requires the cardholder PIN and the message has none (DE52), or the card has no PIN set yet",
  pin_wrong: 'the cardholder PIN (DE52) is not the card’s: one more wrong try',
  pin_tries_exceeded: 'the card’s PIN is blocked after too many wrong tries (this one included), until the back office sets it again',
  currency_mismatch: "currency differs from the card account's",
  service_not_allowed: "the profile's flag for this terminal service is off (a virtualized card at a TPE)",
  invalid_transfer: 'a transfer to the same card',
  transfer_outside_network: 'transfer between cards of different clients outside one network',
  no_funding_account: "the card's client has no funding account",
  limit_amount: 'per-transaction, daily or monthly amount limit exceeded',
  limit_count: 'daily or monthly count limit exceeded',
  insufficient_funds: 'available balance below the amount',
  // Decided upstream (passed as preset) and journaled as such:
  format_error: 'the message could be framed but not parsed or validated',
  unsupported_message: 'MTI or processing code the switch does not handle',
  system_error: 'unexpected failure while handling the message',
} as const;

export type Outcome = keyof typeof OUTCOMES;

export function isOutcome(s: string): s is Outcome {
  return Object.prototype.hasOwnProperty.call(OUTCOMES, s);
}
