/**
 * A TPE firmware model over one TCP connection (DESIGN.md §3):
 * - keeps its STAN sequence (000001..999999, then 000001);
 * - signs on, with its security PIN on first initialisation, and signs on again by itself
 *   before its first transaction on each new connection (the switch accepts a terminal's
 *   transactions only on a connection where it has signed on);
 * - sends an echo (0800/301) when the line has been idle for `keepAliveMs`;
 * - purchases, code redemptions, balance inquiries, pump sessions (0100 then 0220 with the
 *   dispensed amount), reversals;
 * - a purchase, redemption or pre-authorization without an answer in time is reversed
 *   automatically: 0400 naming it in DE90, then 0401 repeats with backoff until acknowledged;
 * - an advice (0220) without an acknowledgement is repeated as 0221 the same way;
 * - what is still unacknowledged after `retry.attempts` sends waits in a store-and-forward
 *   queue, sent again before the reconciliation (and on `flush()`);
 * - keeps its own batch totals (batch.ts) and closes the day with a 0500.
 * Requests may overlap: answers are matched by MTI, STAN and terminal id (connection.ts).
 * This file is the session (what each message says and what its answer means); how a message
 * reaches the host (the connection, repeats, back-off, store-and-forward, late answers) is
 * delivery.ts.
 */
import { buildDe48, parseDe54, parseDe90, type IsoFields, type IsoMessage } from '../protocol/index.js';
import { BatchTotals } from './batch.js';
import { Delivery } from './delivery.js';
import { Keyring, putCardholderPin, type MasterKey } from './keys.js';
import { build, cardFields, originalField, reconciliationFields, saleFields, type MessageKind, type SaleData } from './messages.js';
import { StanSequence } from './stan.js';
import { DEFAULT_WIRE, type Wire } from './wire.js';

export interface RetryPolicy {
  /** Wait before the first repeat; each further repeat waits twice as long ... */
  firstMs: number;
  /** ... up to this. */
  maxMs: number;
  /** Sends of one message (the original and its repeats) before it goes to the store-and-forward queue. */
  attempts: number;
}

export interface TerminalOptions {
  host?: string;
  port: number;
  wire?: Partial<Wire>;
  terminalId: string;
  servicePoint: string;
  /** Security PIN for the first initialisation (single use). */
  pin?: string;
  /** The terminal was initialized before (its sign-on needs no PIN). */
  initialized?: boolean;
  /** The injected master key: working keys sent by the switch are unwrapped under it. */
  masterKey?: MasterKey;
  /** Sign on before the first transaction of each connection (default true; false sends it without a session). */
  autoSignOn?: boolean;
  /** How long to wait for an answer (default 5000 ms). */
  timeoutMs?: number;
  /** Echo after this long without traffic (default 0: no keep-alive). */
  keepAliveMs?: number;
  retry?: Partial<RetryPolicy>;
  /** First STAN handed out (default 1). */
  stanStart?: number;
  currency?: string;
  now?: () => Date;
  /** One line per event (no card data). */
  log?: (line: string) => void;
}

export type TxKind = MessageKind | 'raw';

/** A message the terminal sent and what became of it. */
export interface Tx {
  kind: TxKind;
  request: IsoMessage;
  response?: IsoMessage;
  /** DE39 of the answer; undefined when none came. */
  code?: string;
  approved: boolean;
  amount: number;
  stan: string;
  transmissionDateTime: string;
  /** Sends of this message (1 + repeats). */
  attempts: number;
  /** Milliseconds from the first send to the answer. */
  latencyMs?: number;
  /** DE54 available balance of the answer. */
  balance?: number;
  approvalCode?: string;
  /** The message a reversal or completion names. */
  original?: Tx;
  /** The automatic reversal of a sale that got no answer in time. */
  reversal?: Promise<Tx>;
  /** An answer that came after the terminal had given up waiting. */
  lateAnswer?: IsoMessage;
  /** Counted in the batch's debits. */
  counted: boolean;
  /** Its debit has been reversed (counted in the batch's debit reversals). */
  reversed: boolean;
}

export interface TerminalCounters {
  sent: number;
  answered: number;
  timeouts: number;
  repeats: number;
  echoes: number;
  autoReversals: number;
  late: number;
}

const HISTORY_MAX = 10_000;

export class Terminal {
  readonly id: string;
  readonly servicePoint: string;
  readonly stan: StanSequence;
  readonly batch = new BatchTotals();
  readonly counters: TerminalCounters = { sent: 0, answered: 0, timeouts: 0, repeats: 0, echoes: 0, autoReversals: 0, late: 0 };
  /** Known to be initialized at the host (signed on once with its PIN, or told so). */
  initialized: boolean;
  signedOn = false;
  /** Master and working keys (the firmware's key store). */
  readonly keys: Keyring;
  private readonly timeoutMs: number;
  private readonly delivery: Delivery;
  private readonly now: () => Date;
  private readonly currency: string | undefined;
  private pin: string | undefined;
  /** The sign-on in progress that transactions wait for. */
  private signingOn: Promise<Tx> | undefined;
  private readonly background = new Set<Promise<unknown>>();
  /** Sent messages by MTI:STAN:DE7 (what a DE90 names), the latest HISTORY_MAX. */
  private readonly history = new Map<string, Tx>();
  private keepAlive: NodeJS.Timeout | undefined;
  private echoing = false;

  private constructor(private readonly opts: TerminalOptions) {
    if (!/^[A-Za-z0-9]{8}$/.test(opts.terminalId)) throw new Error(`terminal id ${JSON.stringify(opts.terminalId)} is not 8 letters or digits`);
    this.id = opts.terminalId;
    this.servicePoint = opts.servicePoint;
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.delivery = new Delivery({
      host: opts.host ?? '127.0.0.1',
      port: opts.port,
      wire: { ...DEFAULT_WIRE, ...opts.wire },
      timeoutMs: this.timeoutMs,
      retry: { firstMs: 1000, maxMs: 8000, attempts: 6, ...opts.retry },
      counters: this.counters,
      log: (line) => this.log(line),
      settle: (tx, answer) => this.settle(tx, answer),
      // a session lives and dies with its connection
      connected: (c) => {
        this.signedOn = false;
        c.macKeys = () => this.keys.working;
      },
      beforeSend: (tx) => this.inSession(tx),
    });
    this.now = opts.now ?? (() => new Date());
    this.currency = opts.currency;
    this.pin = opts.pin;
    this.initialized = opts.initialized ?? false;
    this.keys = new Keyring(opts.masterKey);
    this.stan = new StanSequence(opts.stanStart ?? 1);
    const every = opts.keepAliveMs ?? 0;
    if (every > 0) {
      this.keepAlive = setInterval(() => this.idleCheck(every), Math.max(10, Math.min(every / 2, 1000)));
      this.keepAlive.unref();
    }
  }

  /** A terminal with its connection open. */
  static async connect(opts: TerminalOptions): Promise<Terminal> {
    const t = new Terminal(opts);
    await t.delivery.connection();
    return t;
  }

  private log(line: string): void {
    this.opts.log?.(`${this.id} ${line}`);
  }

  // ------------------------------------------------------------------ session

  /** Signs on first when a transaction is to leave on a connection without a session. */
  private async inSession(tx: Tx): Promise<void> {
    if (this.signedOn || this.opts.autoSignOn === false || tx.request.mti.slice(1, 3) === '80') return;
    this.signingOn ??= this.signOn().finally(() => {
      this.signingOn = undefined;
    });
    await this.signingOn;
  }

  /** 0800/001; with the security PIN (DE48 SP) while the terminal is not known to be initialized. */
  async signOn(): Promise<Tx> {
    const withPin = this.pin !== undefined && !this.initialized;
    const tx = await this.exchange('signOn', this.message('signOn', withPin ? { 48: buildDe48({ SP: this.pin }) } : {}));
    if (tx.code === '00') {
      this.signedOn = true;
      this.initialized = true;
      if (withPin) this.pin = undefined; // single use
      if (tx.response) this.keys.install(tx.response);
      return tx;
    }
    if (withPin && tx.code === '58') {
      // A PIN is single use: the terminal may have been initialized before. Try a plain sign-on.
      const plain = await this.exchange('signOn', this.message('signOn'));
      if (plain.code === '00') {
        this.signedOn = true;
        this.initialized = true;
        return plain;
      }
    }
    return tx;
  }

  /** 0800/161: new working keys, installed from the answer (KeyDeliveryError when they do not unwrap). */
  async keyChange(): Promise<Tx> {
    const tx = await this.exchange('keyChange', this.message('keyChange'));
    if (tx.code === '00' && tx.response) this.keys.install(tx.response);
    return tx;
  }

  async signOff(): Promise<Tx> {
    const tx = await this.exchange('signOff', this.message('signOff'));
    if (tx.code === '00') this.signedOn = false;
    return tx;
  }

  async echo(): Promise<Tx> {
    this.counters.echoes++;
    return this.exchange('echo', this.message('echo'));
  }

  // ------------------------------------------------------------------ transactions

  /** An attended purchase (0200, DE3 000000) with a card. */
  purchase(sale: SaleData): Promise<Tx> {
    return this.sale('purchase', sale);
  }

  /** A purchase paid with a transaction code typed in (no card; DE48 TC, DE22 012). */
  redeem(r: { code: string; amount: number; service?: string }): Promise<Tx> {
    return this.sale('redemption', { code: r.code, amount: r.amount, service: r.service });
  }

  /** Balance inquiry (0200, DE3 310000): the answer's DE54 is in `balance`. */
  inquiry(r: { pan: string; expiry?: string; pin?: string; service?: string }): Promise<Tx> {
    return this.exchange('inquiry', this.message('inquiry', this.withPin(cardFields(r.pan, r.expiry, { 48: buildDe48({ SV: r.service ?? 'FUEL' }) }), r)));
  }

  /** Pre-authorization at the pump (0100): holds `amount`. */
  preauth(sale: SaleData): Promise<Tx> {
    return this.sale('preauth', sale);
  }

  /** Completion advice (0220) of a pre-authorization with the final amount, repeated (0221) until acknowledged. */
  async complete(preauth: Tx, amount: number): Promise<Tx> {
    const fields: IsoFields = { 4: String(amount).padStart(12, '0'), 90: originalField(this.refOf(preauth)) };
    const tx = this.newTx('completion', this.message('completion', fields), amount);
    tx.original = preauth;
    await this.delivery.untilAcknowledged(tx);
    return tx;
  }

  /** A pump session: hold `amount`, dispense, complete with `dispensed`. */
  async pumpSession(s: SaleData & { dispensed: number }): Promise<{ preauth: Tx; completion?: Tx }> {
    const preauth = await this.preauth(s);
    if (!preauth.approved) return { preauth };
    return { preauth, completion: await this.complete(preauth, s.dispensed) };
  }

  /** Reversal (0400) of an earlier message, repeated (0401) until acknowledged. */
  async reverse(original: Tx): Promise<Tx> {
    const fields: IsoFields = { 90: originalField(this.refOf(original)) };
    const de3 = original.request.fields[3];
    if (typeof de3 === 'string') fields[3] = de3;
    if (original.amount > 0) fields[4] = String(original.amount).padStart(12, '0');
    const tx = this.newTx('reversal', this.message('reversal', fields), original.amount);
    tx.original = original;
    await this.delivery.untilAcknowledged(tx);
    return tx;
  }

  /** End of day: sends what is unacknowledged, then a 0500 with the batch totals; a 00 starts a new batch. */
  async reconcile(): Promise<Tx> {
    await this.drain();
    await this.flush();
    return this.exchange('reconciliation', this.message('reconciliation', reconciliationFields(this.batch.snapshot())));
  }

  /**
   * Any message: 7, 11, 41 are filled in when absent (and 42, 49 for a financial one). It is
   * read like a firmware message of its kind for the batch totals.
   */
  async send(msg: IsoMessage): Promise<Tx> {
    const kind = kindOf(msg);
    const base = kind === 'raw' ? this.message('echo') : this.message(kind);
    const fields: IsoFields = { ...msg.fields };
    for (const de of [7, 11, 12, 13, 41, 42, 49]) if (fields[de] === undefined && base.fields[de] !== undefined) fields[de] = base.fields[de];
    const m: IsoMessage = { mti: msg.mti, fields };
    const amount = typeof fields[4] === 'string' ? Number(fields[4]) : 0;
    const tx = this.newTx(kind, m, amount);
    if (typeof fields[90] === 'string') {
      try {
        const o = parseDe90(fields[90]);
        tx.original = this.history.get(`${o.mti}:${o.stan}:${o.transmissionDateTime}`);
      } catch {
        // a malformed DE90 is the host's to refuse
      }
    }
    await this.delivery.once(tx);
    return tx;
  }

  // ------------------------------------------------------------------ background work

  /** Waits for automatic reversals and repeats in progress. */
  async drain(): Promise<void> {
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
  }

  /** Sends the store-and-forward queue again (one round of attempts each); resolves with what is left. */
  flush(): Promise<number> {
    return this.delivery.flush();
  }

  /** Reversals and advices still waiting for an acknowledgement. */
  get pending(): readonly Tx[] {
    return this.delivery.pending;
  }

  async close(): Promise<void> {
    if (this.keepAlive) clearInterval(this.keepAlive);
    await this.delivery.close();
  }

  // ------------------------------------------------------------------ internals

  /**
   * The PIN typed in, as keys.ts putCardholderPin sends it (DE52 under a 3DES PIN key, DE48 PB
   * under an AES one). Without working keys the PIN pad has nothing to encrypt under, and the
   * message goes without it.
   */
  private withPin(fields: IsoFields, card: { pan?: string; pin?: string }): IsoFields {
    const keys = this.keys.working;
    if (card.pin !== undefined && card.pan !== undefined && keys !== undefined) putCardholderPin(fields, keys, card.pin, card.pan);
    return fields;
  }

  private message(kind: MessageKind, extra: IsoFields = {}): IsoMessage {
    return build(kind, { terminalId: this.id, servicePoint: this.servicePoint, stan: this.stan.next(), at: this.now(), currency: this.currency }, extra);
  }

  private refOf(tx: Tx): { mti: string; stan: string; transmissionDateTime: string } {
    // a repeat is named by its original's MTI
    return { mti: tx.request.mti.slice(0, 3) + (tx.request.mti[3] === '1' ? '0' : tx.request.mti[3]), stan: tx.stan, transmissionDateTime: tx.transmissionDateTime };
  }

  private newTx(kind: TxKind, request: IsoMessage, amount: number): Tx {
    const tx: Tx = {
      kind,
      request,
      approved: false,
      amount,
      stan: String(request.fields[11]),
      transmissionDateTime: String(request.fields[7]),
      attempts: 0,
      counted: false,
      reversed: false,
    };
    this.history.set(`${request.mti}:${tx.stan}:${tx.transmissionDateTime}`, tx);
    if (this.history.size > HISTORY_MAX) this.history.delete(this.history.keys().next().value as string);
    return tx;
  }

  private async sale(kind: 'purchase' | 'redemption' | 'preauth', sale: SaleData): Promise<Tx> {
    const tx = this.newTx(kind, this.message(kind, this.withPin(saleFields(sale), sale)), sale.amount);
    await this.delivery.once(tx);
    if (tx.code === undefined) {
      this.counters.autoReversals++;
      this.log(`no answer to ${tx.request.mti} STAN ${tx.stan} within ${this.timeoutMs} ms: reversing`);
      tx.reversal = this.track(this.reverse(tx));
    }
    return tx;
  }

  private exchange(kind: TxKind, msg: IsoMessage): Promise<Tx> {
    const amount = typeof msg.fields[4] === 'string' ? Number(msg.fields[4]) : 0;
    const tx = this.newTx(kind, msg, amount);
    return this.delivery.once(tx).then(() => tx);
  }

  /** The answer and what it means for the batch (batch.ts). */
  private settle(tx: Tx, answer: IsoMessage): void {
    const f = answer.fields;
    tx.response = answer;
    tx.code = typeof f[39] === 'string' ? f[39] : undefined;
    tx.approved = tx.code === '00';
    if (typeof f[38] === 'string') tx.approvalCode = f[38];
    if (typeof f[54] === 'string') {
      try {
        tx.balance = parseDe54(f[54]).find((b) => b.amountType === '02')?.amount;
      } catch {
        // not a balance the terminal can show
      }
    }
    if (!tx.approved) return;
    switch (tx.kind) {
      case 'purchase':
      case 'redemption':
      case 'completion':
        if (!tx.counted) {
          this.batch.debit(tx.amount);
          tx.counted = tx.amount > 0;
        }
        break;
      case 'reversal':
        this.reversed(tx.original);
        break;
      case 'signOn':
        this.signedOn = true;
        this.initialized = true;
        break;
      case 'reconciliation':
        this.batch.subtract(reportedFigures(tx.request));
        break;
      default:
        break;
    }
  }

  /** A reversal of `o` was acknowledged with 00. */
  private reversed(o: Tx | undefined): void {
    if (!o || o.reversed) return;
    if (o.counted) {
      this.batch.reversal(o.amount);
      o.reversed = true;
      return;
    }
    if (o.code === undefined && (o.kind === 'purchase' || o.kind === 'redemption') && o.amount > 0) {
      // Reversed without having seen its answer. The host found it (else 25); unless a late
      // answer said it was declined, it was approved there: a debit and its reversal.
      const late = o.lateAnswer?.fields[39];
      if (late !== undefined && late !== '00') return;
      this.batch.debit(o.amount);
      this.batch.reversal(o.amount);
      o.counted = true;
      o.reversed = true;
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.background.add(p);
    const done = (): void => {
      this.background.delete(p);
    };
    p.then(done, done);
    return p;
  }

  private idleCheck(every: number): void {
    if (this.echoing || !this.delivery.idleFor(every)) return;
    this.echoing = true;
    this.echo().finally(() => {
      this.echoing = false;
    });
  }
}

/** What a message is, read as a firmware would (for messages built by hand). */
export function kindOf(msg: IsoMessage): TxKind {
  const de3 = typeof msg.fields[3] === 'string' ? msg.fields[3] : '000000';
  switch (msg.mti.slice(0, 3)) {
    case '080':
      return msg.fields[70] === '001' ? 'signOn' : msg.fields[70] === '002' ? 'signOff' : msg.fields[70] === '301' ? 'echo' : msg.fields[70] === '161' ? 'keyChange' : 'raw';
    case '010':
      return 'preauth';
    case '020':
      if (de3.startsWith('31')) return 'inquiry';
      if (de3.startsWith('00')) return msg.fields[2] === undefined && msg.fields[35] === undefined ? 'redemption' : 'purchase';
      return 'raw';
    case '012':
    case '022':
      return 'completion';
    case '040':
    case '042':
      return 'reversal';
    case '050':
      return 'reconciliation';
    default:
      return 'raw';
  }
}

function reportedFigures(m: IsoMessage): { debits: number; debitsAmount: number; debitReversals: number; debitReversalsAmount: number } {
  const n = (de: number): number => (typeof m.fields[de] === 'string' ? Number(m.fields[de]) : 0);
  return { debits: n(76), debitsAmount: n(88), debitReversals: n(77), debitReversalsAmount: n(89) };
}
