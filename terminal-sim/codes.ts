/**
 * How the load generator classes response codes (protocol/elements/de39.ts): approvals,
 * business declines, errors.
 */
import { responseName } from '../protocol/index.js';

/**
 * Answers that are errors of the system rather than decisions about a card: format error
 * (30: the simulator or the codec is wrong), the database unreachable (91), a duplicate with
 * other content (94: a STAN reused), a malfunction (96). Every other code is a business answer.
 */
export const ERROR_CODES: ReadonlySet<string> = new Set(['30', '91', '94', '96']);

export function describeCode(code: string | undefined): string {
  if (code === undefined) return 'no answer';
  return `${code} ${responseName(code) ?? 'unknown code'}`;
}
