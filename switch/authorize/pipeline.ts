/**
 * What a decoded terminal message goes through, in order. Each step passes the message on
 * (undefined) or ends it with its answer (null when the message expects none); nothing a step
 * refuses reaches a later one.
 *
 *   1. session  the connection's terminal, signed on (../session.ts; rules.ts sessionVerdict)  58
 *   2. mac      the MAC under the terminal's key, where the listener requires one (../security/mac.ts)  63
 *   3. rate     the terminal's share of the switch (../rate-limit.ts)  58
 *   4. handle   parse, the cached view and its checks, the ledger (./handler.ts)
 *
 * Limits that apply before decoding (connections and frames per connection and per peer
 * address) are the TCP front's (../server.ts).
 */
import { expectsResponse, type IsoMessage, type MessageSpec } from '../../protocol/index.js';
import type { SwitchMetrics } from '../metrics.js';
import type { TerminalRateLimiter } from '../rate-limit.js';
import { needsMac, type MacGuard, type MacRefusal } from '../security/mac.js';
import type { ConnectionContext, SessionGuard } from '../session.js';
import type { Handler } from './handler.js';
import { mayChangeKeys } from './request.js';
import { answer } from './response.js';

export interface PipelineDeps {
  sessions: SessionGuard;
  /** Only on a switch that requires MACs (SWITCH_AUTH=mac). */
  macGuard?: MacGuard;
  /** The listeners whose messages must carry a MAC (all but mutual-TLS ones); none given: every listener. */
  macListeners?: ReadonlySet<string>;
  /** Each listener's spec, by listener name: the MAC is taken over the message as packed. */
  specOf: ReadonlyMap<string, MessageSpec>;
  limiter: TerminalRateLimiter;
  handler: Handler;
  metrics: SwitchMetrics;
}

/** A step's verdict: undefined passes the message on; otherwise the answer that ends it. */
type Step = { answer: IsoMessage | null } | undefined;

export class AuthorizationPipeline {
  constructor(private readonly d: PipelineDeps) {}

  /** The answer to a decoded message (null: none due). `received` is its frame, valid until this returns. */
  run(msg: IsoMessage, ctx: ConnectionContext, received: Uint8Array): Promise<IsoMessage | null> {
    try {
      // the frame's buffer may be reused once this returns: the MAC is checked on a copy
      const packed = this.d.macGuard && needsMac(msg) && (this.d.macListeners?.has(ctx.listener) ?? true) ? Buffer.from(received) : undefined;
      if (ctx.session.signingOn) return this.runWaiting(msg, ctx, packed);
      // The usual message (its session settled, its keys already held) reaches the handler with
      // no await before it: each await is a promise, a suspended frame and a turn of the
      // microtask queue per message. The same steps in the same order as runWaiting.
      const refused = this.d.sessions.check(msg, ctx);
      if (refused) return Promise.resolve(refused.answer);
      const bad = this.macVerdict(ctx, packed);
      return bad instanceof Promise ? bad.then((b) => this.afterMac(msg, ctx, b)) : this.afterMac(msg, ctx, bad);
    } catch (e) {
      return Promise.reject(e as Error); // as an async function would: the caller sees a rejection, never a throw
    }
  }

  /** A message behind a sign-on being decided: the same steps, once the sign-on is answered. */
  private async runWaiting(msg: IsoMessage, ctx: ConnectionContext, packed: Buffer | undefined): Promise<IsoMessage | null> {
    const refused = await this.session(msg, ctx);
    return refused ? refused.answer : this.afterMac(msg, ctx, await this.macVerdict(ctx, packed));
  }

  /**
   * 1. A message from no session, or from another terminal than the session's, is refused
   * before it costs anything (or takes the terminal's rate); one behind a sign-on being
   * decided waits for its answer.
   */
  private async session(msg: IsoMessage, ctx: ConnectionContext): Promise<Step> {
    if (ctx.session.signingOn) await ctx.session.signingOn;
    return this.d.sessions.check(msg, ctx);
  }

  /** 2's verdict (undefined: nothing to check, or the right MAC); a promise while the session's keys are read. */
  private macVerdict(ctx: ConnectionContext, packed: Buffer | undefined): MacRefusal | undefined | Promise<MacRefusal | undefined> {
    const guard = this.d.macGuard;
    if (!guard || !packed || ctx.session.terminalId === null) return undefined;
    const spec = this.d.specOf.get(ctx.listener);
    return spec ? guard.check(spec, packed, ctx.session.terminalId, ctx.session) : 'mac_wrong';
  }

  /** 2. A wrong or missing MAC: 63, no journal row, counted and kept in the security log; then 3 and 4. */
  private afterMac(msg: IsoMessage, ctx: ConnectionContext, bad: MacRefusal | undefined): Promise<IsoMessage | null> {
    if (bad) {
      this.d.sessions.refused(bad, msg, ctx, undefined, '63');
      return Promise.resolve(expectsResponse(msg.mti) ? answer(msg, { code: '63', text: bad === 'no_terminal_key' ? 'NO TERMINAL KEY' : 'MAC ERROR' }) : null);
    }
    const over = this.rate(msg, ctx);
    return over ? Promise.resolve(over.answer) : this.handle(msg, ctx);
  }

  /** 3. A terminal over its rate: 58, before the cache or the ledger. */
  private rate(msg: IsoMessage, ctx: ConnectionContext): Step {
    const terminalId = msg.fields[41];
    if (typeof terminalId !== 'string' || this.d.limiter.take(terminalId)) return undefined;
    this.d.metrics.rateLimited.inc();
    this.d.metrics.countRequest(msg.mti, '58');
    const reply = expectsResponse(msg.mti) ? answer(msg, { code: '58', text: 'RATE LIMIT' }) : null;
    this.d.sessions.settle(msg, ctx, reply);
    return { answer: reply };
  }

  /** 4. The handler; then the session learns the answer (a sign-on is settled whatever happened, so nothing waits for it forever). */
  private async handle(msg: IsoMessage, ctx: ConnectionContext): Promise<IsoMessage | null> {
    const started = performance.now();
    this.d.metrics.inFlight.inc();
    let reply: IsoMessage | null = null;
    try {
      reply = await this.d.handler.handle(msg);
      return reply;
    } finally {
      this.d.sessions.settle(msg, ctx, reply);
      if (this.d.macGuard && reply?.fields[39] === '00' && mayChangeKeys(msg)) this.d.macGuard.renew(ctx.session);
      this.d.metrics.inFlight.dec();
      this.d.metrics.observeLatency(msg.mti, (performance.now() - started) / 1000);
    }
  }
}
