/**
 * Answers: the response MTI, the request's fields a terminal matches on, and the switch's
 * own (37 RRN, 38 approval code, 39 response code, 48 MS display text, 54 available balance).
 * Card data (2, 35, 52) is never echoed.
 */
import { buildDe48, buildDe54, responseMti, AMOUNT_TYPE, type IsoFields, type IsoMessage } from '../../protocol/index.js';
import { displayText, type ResponseCode } from './response-codes.js';

/** Request fields copied into the answer when present. */
export const ECHOED_FIELDS = [3, 4, 7, 11, 12, 13, 24, 25, 41, 42, 49, 70, 74, 76, 77, 86, 88, 89, 90];

export interface AnswerData {
  code: ResponseCode;
  /** Journal id the RRN is made of (the original's, for a repeat). */
  rrnOf?: number;
  approvalCode?: string | null;
  /** Available balance in minor units (DE54, amount type 02). */
  available?: number | null;
  currency?: string;
  /** Extra text for the display; defaults to APPROVED / DECLINED nn. */
  text?: string;
  /** More DE48 tags after MS (working keys of a sign-on or key change). */
  tags?: Readonly<Record<string, string>>;
}

export function answer(req: IsoMessage, a: AnswerData): IsoMessage {
  const fields: IsoFields = {};
  for (const de of ECHOED_FIELDS) {
    const v = req.fields[de];
    if (v !== undefined) fields[de] = v;
  }
  if (a.rrnOf !== undefined) fields[37] = String(a.rrnOf % 1e12).padStart(12, '0');
  if (a.code === '00' && a.approvalCode) fields[38] = a.approvalCode;
  fields[39] = a.code;
  fields[48] = buildDe48({ MS: (a.text ?? displayText(a.code)).slice(0, 99), ...a.tags });
  if (a.available !== undefined && a.available !== null && a.code === '00') {
    fields[54] = buildDe54([{ accountType: '00', amountType: AMOUNT_TYPE.available, currency: a.currency ?? '952', amount: a.available }]);
  }
  return { mti: responseMti(req.mti), fields };
}
