/**
 * DE39 response codes of the host interface (DESIGN.md §3): the one table of them. `name` is
 * what a terminal or the simulator shows; `when` says what gives the code, where the name
 * alone does not. The switch maps its verdicts to these (switch/authorize/response-codes.ts).
 */
export const RESPONSE_CODES = {
  '00': { name: 'approved' },
  '03': { name: 'invalid merchant', when: 'DE42 unknown, or its service point has no virtual card' },
  '12': { name: 'invalid transaction', when: "unsupported MTI or processing code; a reversal after its terminal's reconciliation or outside the reversal window" },
  '13': { name: 'invalid amount' },
  '14': { name: 'invalid card number / unknown code', when: 'no such card, or a transaction code unknown or already used' },
  '25': { name: 'original not found', when: 'a reversal or completion names no original that can take it' },
  '30': { name: 'format error', when: 'the message could be framed but not parsed or validated; a card (DE2 or DE35) and a transaction code (DE48 TC) in one message' },
  '51': { name: 'insufficient funds' },
  '54': { name: 'expired card or code', when: "expired card or code; DE14 (or track 2's expiry) not the card's expiry" },
  '55': { name: 'incorrect PIN', when: 'cardholder PIN (DE52) wrong, or missing where the profile requires it' },
  '57': { name: 'not permitted to cardholder' },
  '58': {
    name: 'not permitted to terminal',
    when: "unknown or blocked terminal, not at DE42's service point, code bound to another service point, no signed-on session on this connection, a DE41 other than the session's or than its client certificate's (the connection is then closed)",
  },
  '61': { name: 'amount limit exceeded' },
  '62': { name: 'restricted card' },
  '63': { name: 'security violation', when: 'MAC missing or wrong, unknown or expired terminal key' },
  '65': { name: 'count limit exceeded' },
  '75': { name: 'tries exceeded', when: "cardholder PIN tries exceeded (the card's PIN is blocked until reset), or too many unknown transaction codes from this terminal: its code redemptions are refused for a while" },
  '91': { name: 'switch cannot reach its database' },
  '94': { name: 'duplicate transmission', when: 'same terminal, STAN and DE7 with different content' },
  '95': { name: 'reconciliation totals do not match' },
  '96': { name: 'system malfunction' },
} as const satisfies Record<string, { name: string; when?: string }>;

export type ResponseCode = keyof typeof RESPONSE_CODES;

/** The code's name, or undefined for a code the host interface does not define. */
export function responseName(code: string): string | undefined {
  return Object.prototype.hasOwnProperty.call(RESPONSE_CODES, code) ? RESPONSE_CODES[code as ResponseCode].name : undefined;
}
