/**
 * From a decoded ISO 8583 message to a typed request, with the format checks of the host
 * interface (DESIGN.md §3): which fields each message must carry and what they may hold.
 * A violation is a FormatError naming the field: the answer is 30.
 */
import { createHash, hash } from 'node:crypto';
import { isRepeat, originalOf, parseDe48, parseDe90, type De48, type IsoFields, type IsoMessage } from '../../protocol/index.js';
import { transactionType, type TransactionType } from './processing-codes.js';
import type { TerminalService } from '../../db/ledger.js';

export class FormatError extends Error {
  constructor(
    readonly field: number | string,
    readonly reason: string,
  ) {
    super(`format: field ${field}: ${reason}`);
    this.name = 'FormatError';
  }
}

/** The request could be read, but this switch does not handle it: 12. */
export class UnsupportedError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'UnsupportedError';
  }
}

export type FinancialKind = 'purchase' | 'preauth' | 'completion' | 'inquiry' | 'reversal' | 'transfer' | 'topup';

interface Base {
  mti: string;
  /** MTI with the repeat cleared (0201 -> 0200). */
  baseMti: string;
  repeat: boolean;
  terminalId: string;
  stan: string;
  transmissionAt: string;
}

export interface NetworkRequest extends Base {
  type: 'network';
  action: 'sign_on' | 'sign_off' | 'echo' | 'key_change';
  securityPin?: string;
}

export interface FinancialRequest extends Base {
  type: 'financial';
  kind: FinancialKind;
  /** DE42, padding removed: the service point code. */
  merchant: string;
  amount: number;
  currency: string;
  pan?: string;
  /** The card's expiry as presented (DE14, or track 2's when DE14 is absent), YYMM. */
  cardExpiry?: string;
  /**
   * The cardholder's PIN block, with a card only: DE52's 8 bytes (ISO 9564 format 0, under a
   * 3DES PIN key) or DE48 PB's 16 (format 4, under an AES PIN key). Its length says which.
   */
  pinBlock?: Uint8Array;
  code?: string;
  service: TerminalService;
  original?: { mti: string; stan: string; transmissionAt: string };
  /** DE38 of a completion that names its pre-authorization by approval code instead of DE90. */
  approvalRef?: string;
  de48: De48;
  requestHash: string;
}

export interface ReconciliationRequest extends Base {
  type: 'reconciliation';
  totals: { credits: number; creditsAmount: number; debits: number; debitsAmount: number; debitReversals: number; debitReversalsAmount: number };
}

export type Request = NetworkRequest | FinancialRequest | ReconciliationRequest;

const NETWORK_CODES: Record<string, NetworkRequest['action']> = { '001': 'sign_on', '002': 'sign_off', '161': 'key_change', '301': 'echo' };

/** A network management message (08x0) after which, answered 00, the terminal's keys may be new: a sign-on or a key change. */
export function mayChangeKeys(msg: IsoMessage): boolean {
  if (msg.mti.slice(1, 3) !== '80') return false;
  const action = NETWORK_CODES[String(msg.fields[70])];
  return action === 'sign_on' || action === 'key_change';
}
const SERVICES: Record<string, TerminalService> = { FUEL: 'fuel', DOTATION: 'dotation', TICKET: 'ticket' };
/** Fields whose content must match for a duplicate to be a repeat of the same message. */
const HASHED_FIELDS = [2, 3, 4, 14, 22, 35, 41, 42, 48, 49, 90];

function str(f: IsoFields, de: number): string | undefined {
  const v = f[de];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new FormatError(de, 'not text');
  return v;
}

function need(f: IsoFields, de: number): string {
  const v = str(f, de);
  if (v === undefined) throw new FormatError(de, 'missing');
  return v;
}

function checkDateTime(v: string): void {
  const mm = Number(v.slice(0, 2));
  const dd = Number(v.slice(2, 4));
  const hh = Number(v.slice(4, 6));
  const mi = Number(v.slice(6, 8));
  const ss = Number(v.slice(8, 10));
  if (!(mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31 && hh <= 23 && mi <= 59 && ss <= 59)) throw new FormatError(7, `${v} is not MMDDhhmmss`);
}

function base(msg: IsoMessage): Base {
  const f = msg.fields;
  const terminalId = need(f, 41).trimEnd();
  if (!/^[A-Za-z0-9]{8}$/.test(terminalId)) throw new FormatError(41, 'terminal id must be 8 letters or digits');
  const stan = need(f, 11);
  const transmissionAt = need(f, 7);
  checkDateTime(transmissionAt);
  return { mti: msg.mti, baseMti: originalOf(msg.mti), repeat: isRepeat(msg.mti), terminalId, stan, transmissionAt };
}

function requestHash(msg: IsoMessage, baseMti: string): string {
  // The usual case, text fields only: one string and a one-shot digest (no Hash object).
  // The bytes hashed are the same either way, so journaled hashes do not change.
  let text = baseMti;
  for (const de of HASHED_FIELDS) {
    const v = msg.fields[de];
    if (v instanceof Uint8Array) return requestHashStreamed(msg, baseMti);
    text += typeof v === 'string' ? `|${de}=${v}` : `|${de}=`;
  }
  return hash('sha256', text, 'hex');
}

function requestHashStreamed(msg: IsoMessage, baseMti: string): string {
  const h = createHash('sha256').update(baseMti);
  for (const de of HASHED_FIELDS) {
    const v = msg.fields[de];
    h.update(`|${de}=`);
    if (typeof v === 'string') h.update(v);
    else if (v instanceof Uint8Array) h.update(v);
  }
  return h.digest('hex');
}

/** DE22's first two digits when the card was read from its magnetic stripe (or a chip read as one). */
const SWIPED = new Set(['02', '90']);
/** Track 2 (ISO 7813): PAN, separator, expiry YYMM, then the service code and discretionary data. */
const TRACK2 = /^([0-9]{12,19})[=D]([0-9]{4})[0-9]*$/;
const EXPIRY = /^[0-9]{2}(0[1-9]|1[0-2])$/;

/**
 * The card a message presents: its PAN (DE2, or track 2's) and expiry (DE14, or track 2's).
 * A card is present or the message is malformed: a PAN comes with its expiry; a swiped card
 * (DE22) with its track 2; and track 2, when there, agrees with DE2 and DE14.
 */
function cardOf(f: IsoFields): { pan: string; expiry: string } | undefined {
  const de2 = str(f, 2);
  const de14 = str(f, 14);
  const track2 = str(f, 35);
  if (de14 !== undefined && !EXPIRY.test(de14)) throw new FormatError(14, 'expiry must be YYMM');
  let track: RegExpExecArray | null = null;
  if (track2 !== undefined) {
    track = TRACK2.exec(track2);
    if (track === null || !EXPIRY.test(track[2])) throw new FormatError(35, 'not PAN, separator, expiry (YYMM), service code');
  }
  const pan = de2 ?? track?.[1];
  if (pan === undefined) return undefined;
  const de22 = str(f, 22);
  if (track === null && de22 !== undefined && SWIPED.has(de22.slice(0, 2))) throw new FormatError(35, 'missing: the card was swiped (DE22) and track 2 is not here');
  if (track !== null && track[1] !== pan) throw new FormatError(35, 'the PAN of track 2 is not DE2');
  if (track !== null && de14 !== undefined && track[2] !== de14) throw new FormatError(35, 'the expiry of track 2 is not DE14');
  const expiry = de14 ?? track?.[2];
  if (expiry === undefined) throw new FormatError(14, "missing: the card's expiry (DE14 or track 2)");
  return { pan, expiry };
}

export function parseRequest(msg: IsoMessage): Request {
  const cls = msg.mti.slice(1, 3);
  const f = msg.fields;
  if (cls === '80') {
    const b = base(msg);
    const action = NETWORK_CODES[need(f, 70)];
    if (!action) throw new UnsupportedError(`network management code ${str(f, 70)}`);
    const de48 = str(f, 48) === undefined ? {} : parseDe48Field(need(f, 48));
    return { ...b, type: 'network', action, securityPin: de48.SP };
  }
  if (cls === '50') {
    const b = base(msg);
    const num = (de: number, required: boolean): number => {
      const v = required ? need(f, de) : str(f, de);
      return v === undefined ? 0 : Number(v);
    };
    return {
      ...b,
      type: 'reconciliation',
      totals: {
        credits: num(74, true),
        creditsAmount: num(86, true),
        debits: num(76, true),
        debitsAmount: num(88, true),
        debitReversals: num(77, false),
        debitReversalsAmount: num(89, false),
      },
    };
  }
  const kind = financialKind(msg);
  const b = base(msg);
  const merchant = need(f, 42).trimEnd();
  if (!/^[A-Z0-9_]{1,15}$/.test(merchant)) throw new FormatError(42, 'service point code must be A-Z, 0-9 or _');
  const de48 = str(f, 48) === undefined ? {} : parseDe48Field(need(f, 48));
  const service = SERVICES[de48.SV ?? 'FUEL'];
  if (!service) throw new FormatError(48, `unknown service ${de48.SV}`);
  const amountText = kind === 'inquiry' || kind === 'reversal' ? str(f, 4) : need(f, 4);
  const amount = amountText === undefined ? 0 : Number(amountText);
  if (!Number.isSafeInteger(amount)) throw new FormatError(4, 'amount out of range');
  const currency = str(f, 49) ?? '952';
  if (!/^[0-9]{3}$/.test(currency)) throw new FormatError(49, 'currency must be 3 digits');
  let pan: string | undefined;
  let cardExpiry: string | undefined;
  let pinBlock: Uint8Array | undefined;
  let code: string | undefined;
  let original: FinancialRequest['original'];
  let approvalRef: string | undefined;
  if (kind === 'completion' || kind === 'reversal') {
    const de90 = str(f, 90);
    if (de90 !== undefined) {
      let o;
      try {
        o = parseDe90(de90);
      } catch {
        throw new FormatError(90, 'original data elements must be 42 digits');
      }
      original = { mti: o.mti, stan: o.stan, transmissionAt: o.transmissionDateTime };
    } else if (kind === 'completion' && str(f, 38) !== undefined) {
      approvalRef = need(f, 38);
    } else {
      throw new FormatError(90, kind === 'completion' ? 'a completion names its pre-authorization (DE90 or DE38)' : 'missing');
    }
  } else {
    const card = cardOf(f);
    pan = card?.pan;
    cardExpiry = card?.expiry;
    const de52 = f[52];
    if (de52 !== undefined) {
      if (!(de52 instanceof Uint8Array) || de52.length !== 8) throw new FormatError(52, 'a PIN block is 8 bytes');
      if (pan === undefined) throw new FormatError(52, 'a PIN block without a card');
      pinBlock = de52;
    }
    if (de48.PB !== undefined) {
      if (pinBlock !== undefined) throw new FormatError(48, 'two PIN blocks (DE52 and DE48 PB): one or the other');
      if (pan === undefined) throw new FormatError(48, 'a PIN block without a card');
      pinBlock = Buffer.from(de48.PB, 'hex');
    }
    if (de48.TC !== undefined) code = de48.TC;
    if (pan === undefined && code === undefined) throw new FormatError(2, 'no card: DE2, DE35 or a transaction code (DE48 TC)');
    // one pays, not both: with both, which one was checked would depend on the code path
    if (pan !== undefined && code !== undefined) throw new FormatError(48, 'a card (DE2 or DE35) and a transaction code (DE48 TC): one or the other');
    if (code !== undefined && kind !== 'purchase' && kind !== 'preauth') throw new FormatError(48, 'a transaction code pays; it has no balance to ask or move');
  }
  // One literal with every property, in one order: a single hidden class for every request
  // (a spread followed by added properties cost ~6 µs per message and promoted garbage).
  const req: FinancialRequest = {
    mti: b.mti,
    baseMti: b.baseMti,
    repeat: b.repeat,
    terminalId: b.terminalId,
    stan: b.stan,
    transmissionAt: b.transmissionAt,
    type: 'financial',
    kind,
    merchant,
    amount,
    currency,
    pan,
    cardExpiry,
    pinBlock,
    code,
    service,
    original,
    approvalRef,
    de48,
    requestHash: requestHash(msg, b.baseMti),
  };
  return req;
}

function parseDe48Field(v: string): De48 {
  try {
    return parseDe48(v);
  } catch (e) {
    throw new FormatError(48, (e as Error).message.replace(/^decode: field 48 at offset \d+: /, ''));
  }
}

function financialKind(msg: IsoMessage): FinancialKind {
  const base = originalOf(msg.mti);
  switch (base) {
    case '0100':
      if (transactionType(need(msg.fields, 3)) !== '00') throw new UnsupportedError('a pre-authorization is a purchase (DE3 00)');
      return 'preauth';
    case '0120':
    case '0220':
      return 'completion';
    case '0400':
    case '0420':
      return 'reversal';
    case '0200': {
      const tt: TransactionType | undefined = transactionType(need(msg.fields, 3));
      switch (tt) {
        case '00':
          return 'purchase';
        case '31':
          return 'inquiry';
        case '48':
          return 'transfer';
        case '60':
          return 'topup';
        default:
          throw new UnsupportedError(`processing code ${need(msg.fields, 3)}`);
      }
    }
    default:
      throw new UnsupportedError(`MTI ${msg.mti}`);
  }
}
