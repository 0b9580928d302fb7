/**
 * Processing codes (DE3, first two digits) of the host interface, and what each is from a
 * terminal. Transfers and top-ups are back-office operations: from a terminal, declined (57).
 */
export const PROCESSING_CODES = {
  '00': { name: 'purchase', fromTerminal: 'allowed' },
  '31': { name: 'balance inquiry', fromTerminal: 'allowed' },
  '20': { name: 'refund', fromTerminal: 'unsupported' },
  '48': { name: 'transfer between cards', fromTerminal: 'back-office only' },
  '60': { name: 'top-up', fromTerminal: 'back-office only' },
} as const;

export type TransactionType = keyof typeof PROCESSING_CODES;

export function transactionType(de3: string): TransactionType | undefined {
  const tt = de3.slice(0, 2);
  return Object.prototype.hasOwnProperty.call(PROCESSING_CODES, tt) ? (tt as TransactionType) : undefined;
}
