/**
 * What a terminal sends, as data: each kind of message is an MTI and the fields it always
 * carries; the builders add the terminal's identity (41, 42), its trace (7, 11, 12, 13) and
 * the transaction's own fields (card, amount, DE48, DE90). DESIGN.md §3 is the contract.
 */
import { buildDe48, buildDe90, type IsoFields, type IsoMessage } from '../protocol/index.js';
import { de12, de13, de7 } from './clock.js';

export const CURRENCY_XOF = '952';

export interface Layout {
  readonly mti: string;
  readonly fields: Readonly<IsoFields>;
  /** Whether 41/42 (terminal, service point), 12/13 (local time) and 49 (currency) are added. */
  readonly merchant: boolean;
}

/** DE22: 901 magnetic stripe/chip read as stripe, 012 manual entry (a typed transaction code). */
export const LAYOUTS = {
  signOn: { mti: '0800', fields: { 70: '001' }, merchant: false },
  signOff: { mti: '0800', fields: { 70: '002' }, merchant: false },
  echo: { mti: '0800', fields: { 70: '301' }, merchant: false },
  keyChange: { mti: '0800', fields: { 70: '161' }, merchant: false },
  purchase: { mti: '0200', fields: { 3: '000000', 22: '901', 25: '00' }, merchant: true },
  redemption: { mti: '0200', fields: { 3: '000000', 22: '012', 25: '00' }, merchant: true },
  inquiry: { mti: '0200', fields: { 3: '310000', 22: '901', 25: '00' }, merchant: true },
  preauth: { mti: '0100', fields: { 3: '000000', 22: '901', 25: '00' }, merchant: true },
  completion: { mti: '0220', fields: { 3: '000000', 25: '00' }, merchant: true },
  reversal: { mti: '0400', fields: { 25: '00' }, merchant: true },
  reconciliation: { mti: '0500', fields: {}, merchant: false },
} as const satisfies Record<string, Layout>;

export type MessageKind = keyof typeof LAYOUTS;

export interface Trace {
  terminalId: string;
  /** Service point code (DE42 is this, padded to 15 with spaces). */
  servicePoint: string;
  stan: string;
  at: Date;
  currency?: string;
}

export function amountField(amount: number): string {
  if (!Number.isSafeInteger(amount) || amount < 0 || amount > 999_999_999_999) throw new RangeError(`amount ${amount} is not 0..999999999999 minor units`);
  return String(amount).padStart(12, '0');
}

export function merchantField(servicePoint: string): string {
  return servicePoint.padEnd(15, ' ');
}

/** A message of `kind` with the terminal's trace and `extra` fields (which win). */
export function build(kind: MessageKind, trace: Trace, extra: IsoFields = {}): IsoMessage {
  const layout: Layout = LAYOUTS[kind];
  const fields: IsoFields = { ...layout.fields, 7: de7(trace.at), 11: trace.stan, 41: trace.terminalId };
  if (layout.merchant) {
    fields[12] = de12(trace.at);
    fields[13] = de13(trace.at);
    fields[42] = merchantField(trace.servicePoint);
    fields[49] = trace.currency ?? CURRENCY_XOF;
  }
  for (const key of Object.keys(extra)) {
    const de = Number(key);
    if (extra[de] !== undefined) fields[de] = extra[de];
  }
  return { mti: layout.mti, fields };
}

/** The card of a message: a PAN (DE2) with its expiry, or a transaction code (DE48 TC, manual entry). */
export interface CardData {
  pan?: string;
  /** YYMM, as read from the card: DE14, and in track 2 (DE35) since the layouts say swiped (DE22 901). */
  expiry?: string;
  code?: string;
  /** The cardholder's PIN, typed on the PIN pad: sent as a PIN block (DE52) under the terminal's PIN key. */
  pin?: string;
}

/** Track 2 as a stripe holds it: PAN, separator, expiry, service code 101, discretionary data. */
export function track2(pan: string, expiry: string): string {
  return `${pan}=${expiry}10100000`;
}

/** DE2, DE14 and DE35 of a card read from its stripe (DE14 and DE35 only with an expiry). */
export function cardFields(pan: string, expiry: string | undefined, into: IsoFields = {}): IsoFields {
  into[2] = pan;
  if (expiry !== undefined) {
    into[14] = expiry;
    into[35] = track2(pan, expiry);
  }
  return into;
}

export interface SaleData extends CardData {
  amount: number;
  /** FUEL (default), DOTATION or TICKET. */
  service?: string;
  /** More DE48 tags (PR, QT, UP, OD, VH, DR). */
  tags?: Record<string, string>;
}

/** Fields of a purchase, pre-authorization or redemption. */
export function saleFields(s: SaleData): IsoFields {
  const f: IsoFields = { 4: amountField(s.amount), 48: buildDe48({ SV: s.service ?? 'FUEL', ...s.tags, TC: s.code }) };
  if (s.pan !== undefined) cardFields(s.pan, s.expiry, f);
  return f;
}

/** The original of a reversal or completion: DE90 from its MTI, STAN and DE7. */
export interface OriginalRef {
  mti: string;
  stan: string;
  transmissionDateTime: string;
}

export function originalField(o: OriginalRef): string {
  return buildDe90({ mti: o.mti, stan: o.stan, transmissionDateTime: o.transmissionDateTime });
}

/** Batch totals of a 0500 (credits are refunds: none from terminals today). */
export interface BatchFigures {
  debits: number;
  debitsAmount: number;
  debitReversals: number;
  debitReversalsAmount: number;
}

export function reconciliationFields(b: BatchFigures): IsoFields {
  const n10 = (v: number): string => String(v).padStart(10, '0');
  const n16 = (v: number): string => String(v).padStart(16, '0');
  return {
    74: n10(0),
    76: n10(b.debits),
    77: n10(b.debitReversals),
    86: n16(0),
    88: n16(b.debitsAmount),
    89: n16(b.debitReversalsAmount),
  };
}
