/**
 * Response codes as the switch answers them: the table of codes (protocol/elements/de39.ts) and
 * the mapping of outcomes and verdicts to codes (db/outcome-codes.ts), and the display text.
 */
import type { ResponseCode } from '../../protocol/index.js';

export { RESPONSE_CODES, type ResponseCode } from '../../protocol/index.js';
export { OUTCOME_CODES, answerCode, type SwitchVerdict } from '../../db/outcome-codes.js';

/** Short text for the terminal display (DE48 tag MS). */
export function displayText(code: ResponseCode): string {
  return code === '00' ? 'APPROVED' : `DECLINED ${code}`;
}
