/**
 * How the firmware model gets a message to the host, apart from what the message means (the
 * session, terminal.ts): the connection (opened on first use and again after it drops), one
 * send and its wait, repeats with back-off until an acknowledgement other than 91/96, the
 * store-and-forward queue of what is still unacknowledged, and the answers that come after
 * the terminal gave up waiting.
 */
import { repeatOf, responseMti, type IsoMessage } from '../protocol/index.js';
import { HostConnection, answerKey } from './connection.js';
import type { RetryPolicy, TerminalCounters, Tx } from './terminal.js';
import type { Wire } from './wire.js';

/** Answers that do not acknowledge a reversal or advice: the host could not process it, send again. */
const RETRY_CODES: ReadonlySet<string> = new Set(['91', '96']);
/** Requests given up on that are remembered for their late answer. */
const GAVE_UP_MAX = 10_000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface DeliveryOptions {
  host: string;
  port: number;
  wire: Wire;
  timeoutMs: number;
  retry: RetryPolicy;
  counters: TerminalCounters;
  log(line: string): void;
  /** An answer that settles `tx` (the session records it and its effect on the batch). */
  settle(tx: Tx, answer: IsoMessage): void;
  /** A new connection is open (a session does not outlive its connection). */
  connected?(c: HostConnection): void;
  /** Awaited before each send on the connection (the session signs on first when it must). */
  beforeSend?(tx: Tx): Promise<void>;
}

export class Delivery {
  private conn: HostConnection | undefined;
  private connecting: Promise<HostConnection> | undefined;
  /** Reversals and advices not acknowledged after a full round of sends. */
  private readonly unacknowledged: Tx[] = [];
  /** Requests given up on, by answer key: a late answer is recorded on them. */
  private readonly gaveUp = new Map<string, Tx>();
  private closed = false;

  constructor(private readonly o: DeliveryOptions) {}

  /** One send of tx.request; an answer settles it. */
  async once(tx: Tx): Promise<void> {
    const answer = await this.request(tx);
    if (answer) this.settle(tx, answer);
  }

  /** Sends and repeats (backoff) until an answer other than 91/96 comes, or the attempts run out: then queued. */
  async untilAcknowledged(tx: Tx): Promise<void> {
    const { retry, counters } = this.o;
    for (let i = 0; i < retry.attempts; i++) {
      if (tx.attempts > 0) {
        await sleep(Math.min(retry.firstMs * 2 ** (tx.attempts - 1), retry.maxMs));
        if (this.closed) break;
        tx.request = { mti: repeatOf(tx.request.mti), fields: tx.request.fields };
        counters.repeats++;
        this.o.log(`repeat ${tx.request.mti} STAN ${tx.stan} (send ${tx.attempts + 1})`);
      }
      const answer = await this.request(tx);
      if (answer && !RETRY_CODES.has(String(answer.fields[39]))) {
        this.settle(tx, answer);
        return;
      }
    }
    if (!this.closed) {
      this.o.log(`${tx.request.mti} STAN ${tx.stan} not acknowledged after ${tx.attempts} sends: queued`);
      this.unacknowledged.push(tx);
    }
  }

  /** Sends the store-and-forward queue again (one round of attempts each); resolves with what is left. */
  async flush(): Promise<number> {
    const queued = this.unacknowledged.splice(0);
    for (const tx of queued) await this.untilAcknowledged(tx);
    return this.unacknowledged.length;
  }

  /** Reversals and advices still waiting for an acknowledgement. */
  get pending(): readonly Tx[] {
    return this.unacknowledged;
  }

  /** The line is open, nothing is in flight, and nothing has crossed it for `ms`. */
  idleFor(ms: number): boolean {
    const c = this.conn;
    return c !== undefined && !c.closed && c.inFlight === 0 && Date.now() - c.lastActivityAt >= ms;
  }

  /** The connection, opened when there is none (or it dropped). */
  connection(): Promise<HostConnection> {
    if (this.conn && !this.conn.closed) return Promise.resolve(this.conn);
    if (this.closed) return Promise.reject(new Error('terminal closed'));
    this.connecting ??= HostConnection.connect(this.o.host, this.o.port, this.o.wire).then(
      (c) => {
        this.conn = c;
        this.connecting = undefined;
        c.onUnmatched = (m) => this.onLate(m);
        c.onProblem = (reason) => this.o.log(reason);
        this.o.connected?.(c);
        return c;
      },
      (e: unknown) => {
        this.connecting = undefined;
        throw e;
      },
    );
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.conn?.close();
  }

  private async request(tx: Tx): Promise<IsoMessage | undefined> {
    const { counters } = this.o;
    const t0 = Date.now();
    let conn: HostConnection;
    try {
      conn = await this.connection();
    } catch (e) {
      this.o.log((e as Error).message);
      tx.attempts++;
      return undefined;
    }
    if (this.o.beforeSend) {
      await this.o.beforeSend(tx);
      conn = this.conn ?? conn;
    }
    tx.attempts++;
    counters.sent++;
    const answer = await conn.request(tx.request, this.o.timeoutMs);
    if (!answer) {
      counters.timeouts++;
      this.gaveUp.set(answerKey(responseMti(tx.request.mti), tx.request.fields), tx);
      if (this.gaveUp.size > GAVE_UP_MAX) this.gaveUp.delete(this.gaveUp.keys().next().value as string);
      return undefined;
    }
    counters.answered++;
    tx.latencyMs = Date.now() - t0;
    return answer;
  }

  private settle(tx: Tx, answer: IsoMessage): void {
    this.gaveUp.delete(answerKey(answer.mti, answer.fields));
    this.o.settle(tx, answer);
  }

  private onLate(m: IsoMessage): void {
    const tx = this.gaveUp.get(answerKey(m.mti, m.fields));
    this.o.counters.late++;
    if (tx) {
      tx.lateAnswer = m;
      this.o.log(`late answer ${m.mti} STAN ${tx.stan}: ${String(m.fields[39])}`);
    }
  }
}
