/**
 * What a batch of the ledger is made of: the items callers post and the results they get back.
 * The switch posts terminal messages, the back office its money operations, the hold sweep the
 * expiry of pre-authorizations; each item is decided by the rules of ./rules.ts.
 */
import type { Outcome } from '../outcomes.js';

export type LedgerOp = 'purchase' | 'preauth' | 'completion' | 'reversal' | 'inquiry' | 'recharge' | 'transfer' | 'expire' | 'record';
export type TerminalService = 'fuel' | 'dotation' | 'ticket';
export type LedgerSource = 'terminal' | 'backoffice' | 'system';

export interface LedgerItem {
  op: LedgerOp;
  source: LedgerSource;
  terminalId?: string;
  stan?: string;
  /** DE7 as received (MMDDhhmmss). With terminal and STAN, the duplicate key. */
  transmissionAt?: string;
  mti?: string;
  cardId?: number;
  /** The card's expiry as the message presents it (DE14, or track 2's), YYMM: it must be the card's. */
  cardExpiry?: string;
  /**
   * The cardholder PIN of DE52 as db/secrets.ts cardPinDigest makes it for this card (hex); ''
   * when DE52 was there but could not be read (no PIN key, a malformed block): a wrong PIN.
   */
  pinDigest?: string;
  /** HMAC (hex) of a transaction code typed in instead of a card. */
  codeHash?: string;
  /** Service point of the message (DE42). */
  servicePointId?: number;
  /** Transfer target. */
  toCardId?: number;
  /**
   * The accounts the item moves, as the caller's cache knows them: a purchase's card account and
   * its service point's virtual card's account, an inquiry's card account. A hint, never a fact:
   * a batch whose items all have one locks these accounts by id, without finding them through the
   * cards, and an attempt whose read names an account they left out starts over, found through
   * the cards (./posting.ts). Only purchases, pre-authorizations and inquiries by card use it.
   */
  accountHint?: readonly number[];
  /**
   * The card's profile, as the caller's cache knows it. A hint, never a fact: a batch whose items
   * with a card all have one reads those profiles by id, once each, and the read returns each
   * card's profile id instead of joining its profile; an attempt whose read names a profile they
   * left out (the card changed profile) starts over, joining each card's profile (./posting.ts).
   */
  profileHint?: number;
  /** Minor units. */
  amount?: number;
  currency?: string;
  service?: TerminalService;
  /** Completion/reversal: the original's STAN and DE7 (DE90), same terminal. */
  original?: { stan: string; transmissionAt: string };
  /** Expiry of a hold: the journal id of its pre-authorization. */
  originalJournalId?: number;
  /** SHA-256 (hex) of the request's content: a duplicate with other content is refused. */
  requestHash?: string;
  /** An outcome decided before the ledger (a decline): journaled as is, without effect. */
  preset?: Outcome;
  userId?: number;
  note?: string;
}

export interface LedgerResult {
  outcome: Outcome;
  journalId: number;
  approvalCode: string | null;
  /** Available balance (balance minus holds) of the holder's account after an approval. */
  available: number | null;
  /** A repeat or duplicate of an earlier message: the outcome is the original's. */
  duplicate: boolean;
  /** The original a completion, reversal, expiry or duplicate refers to. */
  originalId: number | null;
}

/** The database could not be reached or the connection broke: nothing was posted. */
export class LedgerUnavailableError extends Error {
  constructor(override readonly cause: unknown) {
    super(`ledger unavailable: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'LedgerUnavailableError';
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '08004']);
const CONNECTION_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed|the database system is (starting up|shutting down)/i;

export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string } | undefined;
  if (!err) return false;
  return CONNECTION_CODES.has(err.code ?? '') || CONNECTION_MESSAGES.test(err.message ?? '');
}
