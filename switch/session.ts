/**
 * Terminal sessions: a terminal's messages are believed only on a connection where it has
 * signed on (0800, DE70 001), and every later message on that connection carries the same
 * DE41 (DESIGN.md, "Terminal security"). The rule itself is db/ledger/rules.ts sessionVerdict;
 * here the switch keeps each connection's session, applies the rule before a message is parsed,
 * and records what it refused: a counter by reason and a bounded in-memory security log (no
 * journal row: traffic without a session never reaches the ledger).
 */
import type { Logger } from 'pino';
import { expectsResponse, maskPan, type IsoMessage } from '../protocol/index.js';
import { sessionVerdict, type SessionFacts, type SessionMessage } from '../db/ledger/rules.js';
import type { Outcome } from '../db/outcomes.js';
import { answer } from './authorize/response.js';
import type { SwitchMetrics } from './metrics.js';
import type { ResponseCode } from './authorize/response-codes.js';

/**
 * One connection's session (see SessionFacts). While a sign-on is being decided, the messages
 * behind it on the connection wait for its answer (`signingOn`) before they are checked: a
 * terminal that sends its first transaction without waiting for the 0810 is judged on the
 * session that sign-on opened.
 */
export class TerminalSession implements SessionFacts {
  terminalId: string | null = null;
  signedOn = false;
  /** Mutual TLS: the terminals the client certificate names, for the connection's life. */
  certified: readonly string[] | undefined;

  constructor(certified?: readonly string[]) {
    this.certified = certified;
  }
  signingOn: Promise<void> | undefined;
  private signedOnOrNot: (() => void) | undefined;

  /** A sign-on of `terminalId` arrived: the connection is its terminal's until it is answered. */
  begin(terminalId: string): void {
    this.terminalId = terminalId;
    this.signingOn = new Promise((resolve) => {
      this.signedOnOrNot = resolve;
    });
  }

  /** The sign-on was answered: 00 opens the session, anything else leaves none. */
  answered(approved: boolean): void {
    if (approved && this.terminalId !== null) this.signedOn = true;
    else this.end();
    const release = this.signedOnOrNot;
    this.signingOn = undefined;
    this.signedOnOrNot = undefined;
    release?.();
  }

  end(): void {
    this.terminalId = null;
    this.signedOn = false;
  }
}

/** What the switch knows of the connection a message came on. */
export interface ConnectionContext {
  /** The listener's name. */
  listener: string;
  /** The peer, address:port. */
  remote: string;
  session: TerminalSession;
  /** Read nothing more from this connection; close it once what is in flight is answered. */
  end(): void;
}

/** DE70 of an 08xx: sign-on and echo have rules of their own; sign-off and the rest need a session. */
export function sessionMessage(msg: IsoMessage): SessionMessage {
  if (msg.mti.slice(1, 3) !== '80') return 'other';
  const code = msg.fields[70];
  return code === '001' ? 'sign_on' : code === '301' ? 'echo' : 'other';
}

function isSignOff(msg: IsoMessage): boolean {
  return msg.mti.slice(1, 3) === '80' && msg.fields[70] === '002';
}

/** DE41 without its padding; undefined when absent or not text. */
export function claimedTerminal(msg: IsoMessage): string | undefined {
  const v = msg.fields[41];
  return typeof v === 'string' ? v.trimEnd() : undefined;
}

export interface SecurityEvent {
  at: string;
  reason: Outcome | string;
  listener: string;
  remote: string;
  mti: string;
  /** DE41 as claimed (at most 16 characters). */
  terminalId?: string;
  /** The connection's session terminal, when it has one. */
  sessionTerminal?: string;
  /** First 6 and last 4 digits only. */
  maskedPan?: string;
}

/** The latest `capacity` security events, oldest dropped first: memory stays bounded under a flood. */
export class SecurityLog {
  private readonly ring: (SecurityEvent | undefined)[];
  private next = 0;
  /** Events recorded since start (dropped ones included). */
  total = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array<SecurityEvent | undefined>(Math.max(1, capacity));
  }

  add(e: SecurityEvent): void {
    this.ring[this.next] = e;
    this.next = (this.next + 1) % this.ring.length;
    this.total++;
  }

  /** Oldest first. */
  entries(): SecurityEvent[] {
    const out: SecurityEvent[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const e = this.ring[(this.next + i) % this.ring.length];
      if (e !== undefined) out.push(e);
    }
    return out;
  }
}

const TEXT: Partial<Record<Outcome, string>> = {
  no_session: 'SIGN ON FIRST',
  session_terminal_mismatch: 'NOT THIS CONNECTION\'S TERMINAL',
  certificate_terminal_mismatch: 'NOT THE CERTIFICATE\'S TERMINAL',
};
/** Refusals that end the connection: it has shown it is not the terminal it claims. */
const CLOSES: ReadonlySet<string> = new Set<Outcome>(['session_terminal_mismatch', 'certificate_terminal_mismatch']);

/** Card data of a refused message, masked; nothing when there is none or it is not a PAN. */
function maskedCard(msg: IsoMessage): string | undefined {
  const de2 = msg.fields[2];
  const de35 = msg.fields[35];
  const pan = typeof de2 === 'string' ? de2 : typeof de35 === 'string' ? de35.split(/[=D]/)[0] : undefined;
  return pan !== undefined && /^[0-9]{12,19}$/.test(pan) ? maskPan(pan) : undefined;
}

export class SessionGuard {
  constructor(
    private readonly metrics: SwitchMetrics,
    private readonly logger: Logger,
    readonly log: SecurityLog,
  ) {}

  /**
   * Applies the session rule to a decoded message. Admitted: undefined (a sign-on binds the
   * connection to its DE41 until it is answered). Refused: `{ answer }`, 58 (null when the
   * message expects none); a DE41 other than the session's also ends the connection.
   */
  check(msg: IsoMessage, ctx: ConnectionContext): { answer: IsoMessage | null } | undefined {
    const kind = sessionMessage(msg);
    const terminalId = claimedTerminal(msg);
    const verdict = sessionVerdict(kind, terminalId, ctx.session);
    if (verdict === undefined) {
      if (kind === 'sign_on' && terminalId !== undefined) ctx.session.begin(terminalId);
      return undefined;
    }
    this.refused(verdict, msg, ctx, terminalId);
    if (CLOSES.has(verdict)) ctx.end();
    return { answer: expectsResponse(msg.mti) ? answer(msg, { code: '58', text: TEXT[verdict] }) : null };
  }

  /** After the answer: an approved sign-on opens the session, a refused one or a sign-off ends it. */
  settle(msg: IsoMessage, ctx: ConnectionContext, reply: IsoMessage | null): void {
    const approved = reply !== null && reply.fields[39] === '00';
    if (sessionMessage(msg) === 'sign_on') {
      ctx.session.answered(approved);
    } else if (approved && isSignOff(msg)) {
      ctx.session.end();
    }
  }

  /** Counts and records a connection or frame refused before decoding (its limits: see server.ts). */
  refusedUnread(reason: string, ctx: ConnectionContext): void {
    this.metrics.countRefused(reason);
    this.log.add({ at: new Date().toISOString(), reason, listener: ctx.listener, remote: ctx.remote, mti: '-', sessionTerminal: ctx.session.terminalId ?? undefined });
  }

  /** Counts and records a message refused before it was parsed (no journal row). */
  refused(reason: Outcome | string, msg: IsoMessage, ctx: ConnectionContext, terminalId = claimedTerminal(msg), code: ResponseCode = '58'): void {
    this.metrics.countRefused(reason);
    this.metrics.countRequest(msg.mti, code);
    const event: SecurityEvent = {
      at: new Date().toISOString(),
      reason,
      listener: ctx.listener,
      remote: ctx.remote,
      mti: msg.mti,
      terminalId: terminalId?.slice(0, 16),
      sessionTerminal: ctx.session.terminalId ?? undefined,
      maskedPan: maskedCard(msg),
    };
    this.log.add(event);
    // A mismatch closes the connection, so it is logged at most once per connection; the
    // others can come in floods and are counted rather than logged one by one.
    if (CLOSES.has(reason)) this.logger.warn(event, `terminal message refused (${reason}); connection closed`);
    else this.logger.debug(event, 'terminal message refused');
  }
}
