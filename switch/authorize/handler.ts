/**
 * One message in, one answer out: the authorization pipeline of the switch, in the spirit of
 * jPOS's TransactionManager — parse, look up, pre-check, post to the ledger, answer — each
 * step a small function of its own module.
 */
import type pg from 'pg';
import { consumeTerminalPin } from '../../db/store.js';
import { findPreauthByApproval, touchSignOn } from '../../db/directory.js';
import { reconcileTerminal } from '../../db/reconcile.js';
import { codeHash } from '../../db/secrets.js';
import { LedgerUnavailableError, isConnectionError, type LedgerBatcher, type LedgerItem, type LedgerOp } from '../../db/ledger.js';
import type { Outcome } from '../../db/outcomes.js';
import { expectsResponse, maskPan, type IsoMessage } from '../../protocol/index.js';
import type { AuthView, DirectoryCache } from '../cache.js';
import { OUTCOME_CODES, answerCode, type ResponseCode } from './response-codes.js';
import type { WorkingKeys } from '../security/working-keys.js';
import type { PinReader } from '../security/pin.js';
import { precheck } from './checks.js';
import { codeGuessVerdict } from '../../db/ledger/rules.js';
import type { CodeGuessGuard } from '../code-guard.js';
import { answer } from './response.js';
import { FormatError, UnsupportedError, parseRequest, type FinancialRequest, type NetworkRequest, type ReconciliationRequest } from './request.js';

export interface HandlerDeps {
  pool: pg.Pool;
  cache: DirectoryCache;
  batcher: LedgerBatcher;
  /** HASH_SECRET: transaction codes are looked up by HMAC. */
  secret: string;
  /** Counts each terminal's unknown codes, and blocks its redemptions past a limit. */
  codeGuard?: CodeGuessGuard;
  /** Told when a terminal's code redemptions get blocked. */
  onCodeGuessing?: (terminalId: string, blockedUntil: number) => void;
  now?: () => Date;
  /** Told of every answer: for metrics and logs. */
  onAnswer?: (info: AnswerInfo) => void;
  /** Makes a terminal's working keys on initialisation and key change; without it, none are sent. */
  workingKeys?: WorkingKeys;
  /** Reads cardholder PIN blocks (DE52) under the terminal's PIN key; without it, a PIN block is a wrong PIN. */
  pins?: PinReader;
}

export interface AnswerInfo {
  mti: string;
  code: ResponseCode;
  outcome?: Outcome | string;
  terminalId?: string;
  stan?: string;
  amount?: number;
  /** First 6 and last 4 digits only. */
  maskedPan?: string;
  journalId?: number;
  error?: string;
}

const OPS: Record<FinancialRequest['kind'], LedgerOp> = {
  purchase: 'purchase',
  preauth: 'preauth',
  completion: 'completion',
  inquiry: 'inquiry',
  reversal: 'reversal',
  transfer: 'transfer',
  topup: 'recharge',
};


/**
 * The accounts a purchase, pre-authorization or inquiry moves, as the cache knows them: the
 * card's, and for a purchase or pre-authorization its service point's virtual card's. The ledger
 * locks them by id and checks them against what it reads (db/ledger/types.ts `accountHint`).
 * None when the cache does not know one of them: the ledger then finds them through the cards.
 */
export function accountHint(op: LedgerOp, view: AuthView): number[] | undefined {
  if (view.card === null || (op !== 'purchase' && op !== 'preauth' && op !== 'inquiry')) return undefined;
  if (op === 'inquiry') return [view.card.accountId];
  const v = view.servicePoint?.virtualAccountId;
  return typeof v === 'number' ? [view.card.accountId, v] : undefined;
}

function unavailable(e: unknown): boolean {
  return e instanceof LedgerUnavailableError || isConnectionError(e);
}

export class Handler {
  private readonly now: () => Date;

  constructor(private readonly d: HandlerDeps) {
    this.now = d.now ?? (() => new Date());
  }

  /** The answer to a decoded message, or null when it expects none. Never throws. */
  async handle(msg: IsoMessage): Promise<IsoMessage | null> {
    if (!expectsResponse(msg.mti)) {
      this.d.onAnswer?.({ mti: msg.mti, code: '12', error: 'not a request or advice: no answer' });
      return null;
    }
    let req;
    try {
      req = parseRequest(msg);
    } catch (e) {
      const code: ResponseCode = e instanceof UnsupportedError ? '12' : e instanceof FormatError ? '30' : '96';
      this.d.onAnswer?.({ mti: msg.mti, code, error: (e as Error).message, terminalId: typeof msg.fields[41] === 'string' ? msg.fields[41] : undefined });
      return answer(msg, { code });
    }
    try {
      switch (req.type) {
        case 'network':
          return await this.network(msg, req);
        case 'reconciliation':
          return await this.reconciliation(msg, req);
        default:
          return await this.financial(msg, req);
      }
    } catch (e) {
      const code: ResponseCode = unavailable(e) ? '91' : '96';
      this.d.onAnswer?.({ mti: msg.mti, code, terminalId: req.terminalId, stan: req.stan, error: (e as Error).message });
      return answer(msg, { code });
    }
  }

  private async financial(msg: IsoMessage, req: FinancialRequest): Promise<IsoMessage> {
    const view = await this.d.cache.lookup(req.terminalId, req.merchant, req.pan);
    const item: LedgerItem = {
      op: OPS[req.kind],
      source: 'terminal',
      terminalId: req.terminalId,
      stan: req.stan,
      transmissionAt: req.transmissionAt,
      mti: req.mti,
      cardId: view.card?.id,
      cardExpiry: req.cardExpiry,
      pinDigest: undefined,
      codeHash: req.code === undefined ? undefined : codeHash(req.code, this.d.secret),
      servicePointId: view.servicePoint?.id,
      accountHint: accountHint(OPS[req.kind], view),
      profileHint: view.card?.profileId,
      amount: req.amount,
      currency: req.currency,
      service: req.service,
      original: req.original ? { stan: req.original.stan, transmissionAt: req.original.transmissionAt } : undefined,
      requestHash: req.requestHash,
      preset: undefined, // every property in the literal: one shape for every item
    };
    if (req.pinBlock !== undefined && view.card && req.pan !== undefined) {
      item.pinDigest = this.d.pins ? await this.d.pins.digest(req.terminalId, req.pinBlock, req.pan, view.card.id) : '';
    }
    item.preset = precheck(item, view, this.now());
    if (item.preset === undefined && item.codeHash !== undefined && this.d.codeGuard) {
      const now = this.now().getTime();
      item.preset = codeGuessVerdict(item, this.d.codeGuard.blockedUntil(req.terminalId, now), now);
    }
    if (!item.original && req.approvalRef) {
      // a completion naming its pre-authorization by approval code (DE38); one that names nothing
      // gets a key no journal row has, so the ledger answers original_not_found
      const found = item.preset ? null : await findPreauthByApproval(this.d.pool, req.terminalId, req.approvalRef);
      item.original = found ?? { stan: '-', transmissionAt: '-' };
    }
    // The lane: the terminal's own service point, so its messages keep their order.
    const r = await this.d.batcher.post(item, view.terminal?.servicePointId ?? 0);
    const code = answerCode(r.outcome, item.op);
    if (r.outcome === 'unknown_code' && this.d.codeGuard?.unknown(req.terminalId, this.now().getTime())) {
      this.d.onCodeGuessing?.(req.terminalId, this.d.codeGuard.blockedUntil(req.terminalId, this.now().getTime()) ?? 0);
    }
    this.d.onAnswer?.({
      mti: msg.mti,
      code,
      outcome: r.outcome,
      terminalId: req.terminalId,
      stan: req.stan,
      amount: req.amount,
      maskedPan: req.pan === undefined ? undefined : maskPan(req.pan),
      journalId: r.journalId,
    });
    return answer(msg, {
      code,
      rrnOf: r.duplicate && r.originalId !== null ? r.originalId : r.journalId,
      approvalCode: r.approvalCode,
      available: req.kind === 'reversal' || req.kind === 'completion' ? null : r.available,
      currency: req.currency,
    });
  }

  private async network(msg: IsoMessage, req: NetworkRequest): Promise<IsoMessage> {
    let code: ResponseCode = '00';
    let text: string | undefined;
    let tags: Record<string, string> | undefined;
    if (req.action !== 'echo') {
      const view = await this.d.cache.lookup(req.terminalId, '-', undefined);
      const t = view.terminal;
      if (!t || t.status !== 'active') {
        code = '58';
        text = t ? 'TERMINAL BLOCKED' : 'UNKNOWN TERMINAL';
      } else if (req.action === 'sign_on') {
        if (req.securityPin !== undefined) {
          const check = await consumeTerminalPin(this.d.pool, req.terminalId, req.securityPin);
          if (check === 'ok') {
            await this.d.cache.forgetTerminal(req.terminalId);
            text = 'TERMINAL INITIALIZED';
            // The initialising sign-on is where a terminal gets its working keys; one with no
            // master key yet gets none (and a listener that requires a MAC refuses its traffic).
            tags = await this.d.workingKeys?.issue(req.terminalId);
            this.d.pins?.renew(req.terminalId);
          } else {
            code = '58';
            text = { no_pin: 'NO PIN ISSUED', expired: 'PIN EXPIRED', wrong: 'WRONG PIN', burned: 'PIN BLOCKED: ASK FOR A NEW ONE' }[check];
          }
        } else if (t.initialized) {
          await touchSignOn(this.d.pool, req.terminalId);
        } else {
          code = '58';
          text = 'SECURITY PIN REQUIRED';
        }
      } else if (req.action === 'key_change') {
        tags = t.initialized ? await this.d.workingKeys?.issue(req.terminalId) : undefined;
        this.d.pins?.renew(req.terminalId);
        if (!tags) {
          code = t.initialized ? OUTCOME_CODES.no_terminal_key : '58';
          text = t.initialized ? 'NO TERMINAL MASTER KEY' : 'SECURITY PIN REQUIRED';
        } else {
          text = 'NEW KEYS';
        }
      }
    }
    this.d.onAnswer?.({ mti: msg.mti, code, terminalId: req.terminalId, stan: req.stan, outcome: req.action });
    return answer(msg, { code, text, tags });
  }

  private async reconciliation(msg: IsoMessage, req: ReconciliationRequest): Promise<IsoMessage> {
    const view = await this.d.cache.lookup(req.terminalId, '-', undefined);
    if (!view.terminal || view.terminal.status !== 'active') {
      this.d.onAnswer?.({ mti: msg.mti, code: '58', terminalId: req.terminalId, stan: req.stan });
      return answer(msg, { code: '58' });
    }
    const r = await reconcileTerminal(this.d.pool, req.terminalId, req.totals, { stan: req.stan, transmissionAt: req.transmissionAt });
    const code: ResponseCode = r.balanced ? '00' : '95';
    this.d.onAnswer?.({ mti: msg.mti, code, outcome: r.balanced ? 'balanced' : 'reconciliation_mismatch', terminalId: req.terminalId, stan: req.stan });
    return answer(msg, {
      code,
      text: r.balanced ? 'TOTALS AGREE' : `SWITCH: ${r.computed.debits} DEBITS ${r.computed.debitsAmount}`,
    });
  }
}
