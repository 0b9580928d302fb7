/**
 * Response codes (DE39) of the host interface, as a terminal reads them (DESIGN.md §3), and
 * how the load generator classes them: approvals, business declines, errors.
 */

export const RESPONSE_TEXT: Readonly<Record<string, string>> = {
  '00': 'approved',
  '03': 'invalid merchant',
  '12': 'invalid transaction',
  '13': 'invalid amount',
  '14': 'invalid card number / unknown code',
  '25': 'original not found',
  '30': 'format error',
  '51': 'insufficient funds',
  '54': 'expired card or code',
  '57': 'not permitted to cardholder',
  '58': 'not permitted to terminal',
  '61': 'amount limit exceeded',
  '62': 'restricted card',
  '65': 'count limit exceeded',
  '91': 'switch cannot reach its database',
  '94': 'duplicate transmission',
  '95': 'reconciliation totals do not match',
  '96': 'system malfunction',
};

/**
 * Answers that are errors of the system rather than decisions about a card: format error
 * (30: the simulator or the codec is wrong), the database unreachable (91), a duplicate with
 * other content (94: a STAN reused), a malfunction (96). Every other code is a business answer.
 */
export const ERROR_CODES: ReadonlySet<string> = new Set(['30', '91', '94', '96']);

export function describeCode(code: string | undefined): string {
  if (code === undefined) return 'no answer';
  return `${code} ${RESPONSE_TEXT[code] ?? 'unknown code'}`;
}
