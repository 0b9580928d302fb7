/**
 * DE54 additional amounts: up to 6 balances of 20 characters each:
 * account type (2), amount type (2, '02' = available), currency (3), sign (C/D), amount (12).
 */
import { DecodeError, EncodeError } from '../errors.js';

export const AMOUNT_TYPE = { ledger: '01', available: '02' } as const;

export interface Balance {
  accountType: string;
  amountType: string;
  currency: string;
  /** Minor units; negative is a debit balance (sign D). */
  amount: number;
}

const ENTRY = 20;
const MAX_AMOUNT = 999_999_999_999;

export function parseDe54(data: string): Balance[] {
  if (data.length % ENTRY !== 0 || data.length > 6 * ENTRY) {
    throw new DecodeError(54, 0, `length ${data.length} is not a multiple of ${ENTRY} up to ${6 * ENTRY}`);
  }
  const out: Balance[] = [];
  for (let i = 0; i < data.length; i += ENTRY) {
    const e = data.slice(i, i + ENTRY);
    if (!/^[0-9]{7}[CD][0-9]{12}$/.test(e)) throw new DecodeError(54, i, `balance ${JSON.stringify(e)} is not n2 n2 n3 C/D n12`);
    const magnitude = Number(e.slice(8));
    out.push({
      accountType: e.slice(0, 2),
      amountType: e.slice(2, 4),
      currency: e.slice(4, 7),
      amount: e[7] === 'D' && magnitude !== 0 ? -magnitude : magnitude,
    });
  }
  return out;
}

export function buildDe54(balances: readonly Balance[]): string {
  if (balances.length > 6) throw new EncodeError(54, 'at most 6 balances');
  let s = '';
  for (const b of balances) {
    if (!/^[0-9]{2}$/.test(b.accountType) || !/^[0-9]{2}$/.test(b.amountType) || !/^[0-9]{3}$/.test(b.currency)) {
      throw new EncodeError(54, 'account type, amount type and currency must be n2, n2, n3');
    }
    if (!Number.isSafeInteger(b.amount) || Math.abs(b.amount) > MAX_AMOUNT) throw new EncodeError(54, `amount ${b.amount} is not an integer of at most 12 digits`);
    s += b.accountType + b.amountType + b.currency + (b.amount < 0 ? 'D' : 'C') + String(Math.abs(b.amount)).padStart(12, '0');
  }
  return s;
}
