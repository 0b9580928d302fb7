// The authorization pipeline's steps, each alone and in order: what one refuses never reaches
// the next (no rate taken, no handler called), and what passes them all gets the handler's answer.
import t from 'tap';
import pino from 'pino';
import type { IsoMessage, MessageSpec } from '../../protocol/index.js';
import type { MacGuard } from '../../switch/security/mac.js';
import { AuthorizationPipeline } from '../../switch/authorize/pipeline.js';
import type { Handler } from '../../switch/authorize/handler.js';
import { SwitchMetrics } from '../../switch/metrics.js';
import { TerminalRateLimiter } from '../../switch/rate-limit.js';
import { SecurityLog, SessionGuard, TerminalSession, type ConnectionContext } from '../../switch/session.js';

const msg = (mti: string, terminal: string, fields: IsoMessage['fields'] = {}): IsoMessage => ({ mti, fields: { 7: '1204101500', 11: '000001', 41: terminal, ...fields } });

function setup(rate: number): { pipeline: AuthorizationPipeline; handled: IsoMessage[]; ctx: () => ConnectionContext; log: SecurityLog; limiter: TerminalRateLimiter } {
  const handled: IsoMessage[] = [];
  const handler = {
    handle: async (m: IsoMessage): Promise<IsoMessage> => {
      handled.push(m);
      return { mti: `${m.mti.slice(0, 2)}${Number(m.mti[2]) + 1}${m.mti[3]}`, fields: { ...m.fields, 39: '00' } };
    },
  } as unknown as Handler;
  const metrics = new SwitchMetrics();
  const log = new SecurityLog(10);
  const sessions = new SessionGuard(metrics, pino({ level: 'silent' }), log);
  const limiter = new TerminalRateLimiter(rate, 1);
  const pipeline = new AuthorizationPipeline({ sessions, specOf: new Map(), limiter, handler, metrics });
  const ctx = (): ConnectionContext => ({ listener: 'test', remote: '127.0.0.1:1', session: new TerminalSession(), end: () => {} });
  return { pipeline, handled, ctx, log, limiter };
}

t.test('session first: a transaction without a sign-on gets 58, takes no rate and reaches no handler', async (t) => {
  const { pipeline, handled, ctx, log, limiter } = setup(1);
  const c = ctx();
  const r = await pipeline.run(msg('0200', 'TPE00001', { 3: '000000' }), c, Buffer.alloc(0));
  t.equal(r?.fields[39], '58');
  t.same(handled, [], 'the handler never saw it');
  t.same(log.entries().map((e) => e.reason), ['no_session'], 'in the security log');
  t.ok(limiter.take('TPE00001'), "the terminal's one token is still there");
});

t.test('then the rate: past it 58 without the handler; the sign-on and its session settle as usual', async (t) => {
  const { pipeline, handled, ctx } = setup(0.001);
  const c = ctx();
  const signOn = await pipeline.run(msg('0800', 'TPE00001', { 70: '001' }), c, Buffer.alloc(0));
  t.equal(signOn?.fields[39], '00', 'the sign-on (it takes the one token)');
  t.equal(c.session.signedOn, true, 'the session is open');
  const over = await pipeline.run(msg('0200', 'TPE00001', { 3: '000000' }), c, Buffer.alloc(0));
  t.equal(over?.fields[39], '58', 'past its rate: 58');
  t.equal(handled.length, 1, 'only the sign-on reached the handler');
});

t.test('everything passed: the handler answers', async (t) => {
  const { pipeline, handled, ctx } = setup(0);
  const c = ctx();
  await pipeline.run(msg('0800', 'TPE00001', { 70: '001' }), c, Buffer.alloc(0));
  const r = await pipeline.run(msg('0200', 'TPE00001', { 3: '000000' }), c, Buffer.alloc(0));
  t.equal(r?.mti, '0210');
  t.equal(r?.fields[39], '00');
  t.equal(handled.length, 2);
  const other = await pipeline.run(msg('0200', 'TPE00002', { 3: '000000' }), c, Buffer.alloc(0));
  t.equal(other?.fields[39], '58', "another terminal's DE41 on the session");
  t.equal(handled.length, 2, 'not handled');
});

t.test('the MAC step, with its keys held and without: the same verdicts, in the same order', async (t) => {
  const handled: IsoMessage[] = [];
  const handler = { handle: async (m: IsoMessage): Promise<IsoMessage> => (handled.push(m), { mti: `${m.mti.slice(0, 2)}10`, fields: { ...m.fields, 39: '00' } }) } as unknown as Handler;
  const metrics = new SwitchMetrics();
  const log = new SecurityLog(10);
  const sessions = new SessionGuard(metrics, pino({ level: 'silent' }), log);
  const limiter = new TerminalRateLimiter(0, 1);
  // a guard whose verdict is the message's DE3: '999999' is a wrong MAC; keys are held once read
  let held = false;
  const calls: string[] = [];
  const verdict = (packed: Uint8Array): 'mac_wrong' | undefined => (Buffer.from(packed).toString() === 'bad' ? 'mac_wrong' : undefined);
  const macGuard = {
    check: (_s: unknown, packed: Uint8Array) => {
      calls.push('held');
      if (held) return verdict(packed);
      calls.push('read');
      held = true;
      return Promise.resolve(verdict(packed));
    },
    renew: () => (held = false),
  } as unknown as MacGuard;
  const pipeline = new AuthorizationPipeline({ sessions, macGuard, specOf: new Map([['test', {} as MessageSpec]]), limiter, handler, metrics });
  const c: ConnectionContext = { listener: 'test', remote: '127.0.0.1:1', session: new TerminalSession(), end: () => {} };
  const buy = (): IsoMessage => msg('0200', 'TPE00001', { 3: '000000' });

  // no session: 58 from step 1, and the MAC is not judged at all
  t.equal((await pipeline.run(buy(), c, Buffer.from('bad')))?.fields[39], '58');
  t.same(log.entries().map((e) => e.reason), ['no_session']);
  t.same(calls, [], 'no MAC looked at');

  t.equal((await pipeline.run(msg('0800', 'TPE00001', { 70: '001' }), c, Buffer.from('sign-on')))?.fields[39], '00', 'signed on (no MAC due)');
  t.equal((await pipeline.run(buy(), c, Buffer.from('bad')))?.fields[39], '63', 'keys not held yet: read, then 63');
  t.same(calls, ['held', 'read']);
  t.equal((await pipeline.run(buy(), c, Buffer.from('bad')))?.fields[39], '63', 'keys held: 63 without reading them');
  t.equal((await pipeline.run(buy(), c, Buffer.from('good')))?.fields[39], '00', 'keys held, right MAC: handled');
  t.same(calls, ['held', 'read', 'held', 'held']);
  t.same(log.entries().map((e) => e.reason), ['no_session', 'mac_wrong', 'mac_wrong'], 'each refusal in the security log once');
  t.equal(handled.length, 2, 'the sign-on and the one good purchase');

  // an echo answered 00 leaves the keys held; a key change answered 00 has them read again
  t.equal((await pipeline.run(msg('0800', 'TPE00001', { 70: '301' }), c, Buffer.from('echo')))?.fields[39], '00', 'echo (no MAC due)');
  t.equal((await pipeline.run(buy(), c, Buffer.from('good')))?.fields[39], '00');
  t.same(calls.slice(4), ['held'], 'after an echo: the keys still held');
  t.equal((await pipeline.run(msg('0800', 'TPE00001', { 70: '161' }), c, Buffer.from('good')))?.fields[39], '00', 'key change');
  t.equal((await pipeline.run(buy(), c, Buffer.from('good')))?.fields[39], '00');
  t.same(calls.slice(5), ['held', 'held', 'read'], 'after a key change: read again');
});

t.test('a step that throws is a rejected promise, never a throw from run', async (t) => {
  const { pipeline } = setup(0);
  const broken = { listener: 'test', remote: '127.0.0.1:1', get session(): TerminalSession { throw new Error('no session object') }, end: () => {} } as unknown as ConnectionContext;
  let p: Promise<unknown> | undefined;
  t.doesNotThrow(() => {
    p = pipeline.run(msg('0200', 'TPE00001', { 3: '000000' }), broken, Buffer.alloc(0));
  });
  await t.rejects(p as Promise<unknown>, /no session object/);
});
