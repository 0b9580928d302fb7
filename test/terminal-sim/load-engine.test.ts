// The load generator's cheap paths: frames patched from a template are byte for byte the
// codec's, for any STAN, amount, PAN, terminal, time and original; and the engine's reads
// (one shared buffer for every connection) and writes (frames due in one tick joined per
// connection) carry every message and answer whole, however the bytes are cut.
import net from 'node:net';
import t from 'tap';
import fc from 'fast-check';
import { Codec, Framer, ascii87, binary87, buildDe48, buildDe90, frame, framePrefixBytes, writeFramePrefix, type FramingOptions, type IsoFields, type IsoMessage } from '../../protocol/index.js';
import { FrameTemplate, FrameTemplates } from '../../terminal-sim/load/template.js';
import { LoadEngine } from '../../terminal-sim/load/engine.js';
import { Schedule, parseMix } from '../../terminal-sim/load/plan.js';
import { DEFAULT_WIRE } from '../../terminal-sim/wire.js';
import { decryptPinBlock0 } from '../../protocol/security/index.js';
import { answerOf } from './hosts.js';
import type { TestContext } from '../helpers/tap.js';

const digits = (min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });
const alnum = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'), minLength: n, maxLength: n });
const trace = fc.record({
  7: digits(10, 10),
  11: digits(6, 6),
  12: digits(6, 6),
  13: digits(4, 4),
  41: alnum(8),
  42: fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ '), minLength: 15, maxLength: 15 }),
});
const fuel = buildDe48({ SV: 'FUEL' });

/** The engine's layouts: fields, the ones patched, the variable one. */
const LAYOUTS: Record<string, { mti: string; fixed: IsoFields; patched: number[]; variable?: number; extra: fc.Arbitrary<IsoFields> }> = {
  purchase: { mti: '0200', fixed: { 3: '000000', 22: '901', 25: '00', 48: fuel, 49: '952' }, patched: [2, 4, 7, 11, 12, 13, 41, 42], variable: 2, extra: fc.record({ 2: digits(12, 19), 4: digits(12, 12) }) },
  inquiry: { mti: '0200', fixed: { 3: '310000', 22: '901', 25: '00', 48: fuel, 49: '952' }, patched: [2, 7, 11, 12, 13, 41, 42], variable: 2, extra: fc.record({ 2: digits(12, 19) }) },
  // a PIN block (binary, patched as bytes) and the MAC field's placeholder, as the firmware sends them
  'purchase with PIN and MAC': {
    mti: '0200',
    fixed: { 3: '000000', 22: '901', 25: '00', 48: fuel, 49: '952', 64: Buffer.alloc(8) },
    patched: [2, 4, 7, 11, 12, 13, 41, 42, 52],
    variable: 2,
    extra: fc.record({ 2: digits(12, 19), 4: digits(12, 12), 52: fc.uint8Array({ minLength: 8, maxLength: 8 }).map((b) => Buffer.from(b)) }),
  },
  // under AES keys the PIN block is DE48 PB: DE48 of one length, patched as characters
  'purchase with PB and MAC': {
    mti: '0200',
    fixed: { 3: '000000', 22: '901', 25: '00', 49: '952', 64: Buffer.alloc(8) },
    patched: [2, 4, 7, 11, 12, 13, 41, 42, 48],
    variable: 2,
    extra: fc.record({
      2: digits(12, 19),
      4: digits(12, 12),
      48: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => buildDe48({ SV: 'FUEL', PB: Buffer.from(b).toString('hex').toUpperCase() })),
    }),
  },
  redeem: {
    mti: '0200',
    fixed: { 3: '000000', 22: '012', 25: '00', 49: '952' },
    patched: [4, 7, 11, 12, 13, 41, 42, 48],
    variable: 48,
    extra: fc.record({ 4: digits(12, 12), 48: digits(4, 16).map((code) => buildDe48({ SV: 'FUEL', TC: code })) }),
  },
  completion: {
    mti: '0220',
    fixed: { 3: '000000', 25: '00', 49: '952' },
    patched: [4, 7, 11, 12, 13, 41, 42, 90],
    extra: fc.record({ 4: digits(12, 12), 90: fc.tuple(digits(6, 6), digits(10, 10)).map(([stan, dt]) => buildDe90({ mti: '0100', stan, transmissionDateTime: dt })) }),
  },
};

/** Fields in the engine's order (its templates' key order is their encoding order). */
function fieldsOf(fixed: IsoFields, values: IsoFields): IsoFields {
  const f: IsoFields = {};
  for (const de of [2, 3, 4, 7, 11, 12, 13, 22, 25, 41, 42, 48, 49, 52, 64, 90]) {
    const v = values[de] ?? fixed[de];
    if (v !== undefined) f[de] = v;
  }
  return f;
}

const FRAMINGS: { name: string; framing: FramingOptions; tpdu?: Buffer }[] = [
  { name: 'binary2', framing: { header: 'binary2', maxFrame: 4096 } },
  { name: 'ascii4 + TPDU', framing: { header: 'ascii4', tpdu: true, maxFrame: 4096 }, tpdu: Buffer.from('6000010000', 'hex') },
  { name: 'bcd2', framing: { header: 'bcd2', maxFrame: 4096 } },
];

t.test('a patched template encodes exactly like the codec, for random STANs, amounts, PANs, terminals and times', async (t) => {
  const codec = new Codec(ascii87);
  for (const { name, framing, tpdu } of FRAMINGS) {
    const prefix = framePrefixBytes(framing);
    const fresh = (mti: string, f: IsoFields): Buffer => {
      const b = codec.encode({ mti, fields: f }, { reserve: prefix });
      writeFramePrefix(b, framing, tpdu);
      return b;
    };
    for (const [type, l] of Object.entries(LAYOUTS)) {
      // one set of templates across all runs: each message is patched into a template made from an earlier one
      const frames = new FrameTemplates(codec, framing, tpdu, prefix, l.mti, l.patched, l.variable);
      let mismatch: string | undefined;
      fc.assert(
        fc.property(trace, l.extra, (tr, extra) => {
          const f = fieldsOf(l.fixed, { ...tr, ...extra });
          const got = frames.frame(f);
          const want = fresh(l.mti, f);
          if (!got.equals(want)) mismatch = `${got.toString('hex')} != ${want.toString('hex')}`;
          return mismatch === undefined;
        }),
        { numRuns: 300 },
      );
      t.equal(mismatch, undefined, `${type}, ${name}: 300 random messages, each the codec's bytes`);
      // a template is really used (the check above would pass on the codec's path alone)
      const f = fieldsOf(l.fixed, { ...fc.sample(trace, 1)[0], ...fc.sample(l.extra, 1)[0] });
      t.ok(FrameTemplate.make(codec, framing, tpdu, prefix, l.mti, f, l.patched), `${type}, ${name}: ascii87 makes a template`);
    }
  }
});

t.test('no template where the codec does not write the characters as they are (binary87: BCD digits), and the frames are still the codec’s', async (t) => {
  const codec = new Codec(binary87);
  const framing: FramingOptions = { header: 'binary2', maxFrame: 4096 };
  const l = LAYOUTS.purchase;
  const f = fieldsOf(l.fixed, { ...fc.sample(trace, 1)[0], 2: '6280001234567890', 4: '000000000100' });
  t.equal(FrameTemplate.make(codec, framing, undefined, 2, l.mti, f, l.patched), undefined);
  const frames = new FrameTemplates(codec, framing, undefined, 2, l.mti, l.patched, l.variable);
  const want = codec.encode({ mti: l.mti, fields: f }, { reserve: 2 });
  writeFramePrefix(want, framing);
  t.same(frames.frame(f), want);
  t.same(frames.frame({ ...f, 11: '000042' }).subarray(2), codec.encode({ mti: l.mti, fields: { ...f, 11: '000042' } }));
});

t.test('a value of another length than the template’s is encoded by the codec, not patched', async (t) => {
  const codec = new Codec(ascii87);
  const framing: FramingOptions = { header: 'binary2', maxFrame: 4096 };
  const l = LAYOUTS.purchase;
  const f = fieldsOf(l.fixed, { ...fc.sample(trace, 1)[0], 2: '6280001234567890', 4: '000000000100' });
  const t1 = FrameTemplate.make(codec, framing, undefined, 2, l.mti, f, l.patched);
  t.ok(t1);
  t.equal(t1?.render({ ...f, 2: '62800012345678901' }), undefined, 'a longer PAN');
  t.equal(t1?.render({ ...f, 42: 'SHORT' }), undefined, 'an unpadded DE42');
  const frames = new FrameTemplates(codec, framing, undefined, 2, l.mti, l.patched, l.variable);
  frames.frame(f);
  const odd = { ...f, 42: 'SHORT' };
  t.same(frames.frame(odd).subarray(2), codec.encode({ mti: l.mti, fields: odd }), 'DE42 padded by the codec');
});

/**
 * A host that answers every request 00 and cuts its answers into pieces: every answer of a
 * chunk joined into one write, each write then sent `cut` bytes at a time (frames split
 * across reads, several frames in one read).
 */
async function cuttingHost(t: TestContext, cut: number, delayMs = 0): Promise<{ port: number; received: IsoMessage[]; writesIn: number[] }> {
  const codec = new Codec(ascii87);
  const received: IsoMessage[] = [];
  const writesIn: number[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const framer = new Framer();
    socket.on('data', (chunk: Buffer) => {
      const out: Buffer[] = [];
      let n = 0;
      framer.push(chunk, (body) => {
        const msg = codec.decode(body);
        received.push(msg);
        n++;
        out.push(frame(codec.encode(answerOf(msg, '00'))));
      });
      writesIn.push(n);
      const all = Buffer.concat(out);
      const send = (): void => {
        for (let i = 0; i < all.length; i += cut) socket.write(all.subarray(i, i + cut));
      };
      if (delayMs > 0) setTimeout(send, delayMs);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as net.AddressInfo).port, received, writesIn };
}

const terminals = Array.from({ length: 12 }, (_, i) => ({ id: `TPE${String(i + 1).padStart(5, '0')}`, servicePoint: `SP${i % 3}` }));
const cards = [{ pan: '628000123456789012', expiry: '2912' }, { pan: '6280001234567', expiry: '3001' }, { pan: '6280009876543210', expiry: '2812' }];

for (const cut of [1, 7, 4096]) {
  t.test(`the engine against a host whose answers come ${cut === 4096 ? 'joined' : `${cut} byte(s) at a time`}: every message answered and matched`, async (t) => {
    const host = await cuttingHost(t, cut);
    const engine = new LoadEngine({
      host: '127.0.0.1',
      port: host.port,
      wire: DEFAULT_WIRE,
      terminals,
      connections: terminals.length,
      cards,
      codes: [],
      schedule: new Schedule(2000, 2000, 300),
      mix: parseMix('purchase=60,preauth=30,inquiry=10'),
      amount: 1234,
      dispensed: 0.5,
      timeoutMs: 5000,
      signOn: false,
      seed: 3,
    });
    await engine.open();
    const r = await engine.run();
    await engine.close();
    const s = r.stats;
    const preauths = s.types.preauth.sent;
    t.equal(s.types.purchase.sent + preauths + s.types.inquiry.sent, 600, 'the schedule’s 600 transactions');
    t.equal(s.types.completion.sent, preauths, 'a completion for each approved pre-authorization');
    t.equal(s.answered, s.sent, 'every message answered');
    t.equal(s.unmatched + s.late + s.timeouts + s.lost + s.unanswered, 0, 'nothing unmatched, late or lost');
    t.equal(host.received.length, s.sent, 'the host got each message once');
    // what the host got is what the engine means to send: its layouts, its STAN sequence per terminal, its amounts
    const stans = new Map<string, number[]>();
    const wrong: string[] = [];
    for (const m of host.received) {
      const id = String(m.fields[41]);
      stans.set(id, [...(stans.get(id) ?? []), Number(m.fields[11])]);
      const amount = m.mti === '0220' ? '000000000617' : m.fields[3] === '310000' ? undefined : '000000001234'; // a completion of 0.5 x 1234, rounded; an inquiry has none
      if (m.fields[4] !== amount) wrong.push(`${m.mti} DE4 ${String(m.fields[4])}`);
      if (m.mti === '0220' ? !/^0100\d{38}$/.test(String(m.fields[90])) : !cards.some((c) => c.pan === m.fields[2])) wrong.push(`${m.mti} card or original`);
      if (m.fields[42] !== terminals.find((x) => x.id === id)?.servicePoint.padEnd(15, ' ')) wrong.push(`${id} DE42 ${String(m.fields[42])}`);
    }
    t.same(wrong, [], 'amounts, cards, originals and service points as configured');
    t.same([...stans].filter(([, seq]) => !seq.every((v, i) => i === 0 || v === seq[i - 1] + 1 || (seq[i - 1] === 999_999 && v === 1))).map(([id]) => id), [], 'each terminal’s STANs in sequence');
    t.equal(stans.size, terminals.length, 'every terminal sent');
  });
}

t.test('a read of answers sends what has fallen due, without waiting for the next tick', async (t) => {
  // The engine's 1 ms tick is made to come every 250 ms: what leaves between ticks can only
  // have left from a read of answers. The host answers 5 ms late, so a transaction is always
  // due when an answer comes.
  const host = await cuttingHost(t, 4096, 5);
  const real = globalThis.setTimeout;
  const later = real as unknown as (fn: () => void, ms?: number, ...args: unknown[]) => NodeJS.Timeout;
  globalThis.setTimeout = ((fn: () => void, ms?: number, ...args: unknown[]) => later(fn, ms === 1 ? 250 : ms, ...args)) as unknown as typeof setTimeout;
  t.teardown(() => void (globalThis.setTimeout = real));
  const engine = new LoadEngine({
    host: '127.0.0.1',
    port: host.port,
    wire: DEFAULT_WIRE,
    terminals: terminals.slice(0, 4),
    connections: 4,
    cards,
    codes: [],
    schedule: new Schedule(1000, 1000, 200),
    mix: parseMix('purchase=1'),
    amount: 100,
    dispensed: 1,
    timeoutMs: 5000,
    signOn: false,
    seed: 2,
  });
  await engine.open();
  const r = await engine.run();
  await engine.close();
  globalThis.setTimeout = real;
  t.equal(r.stats.answered, 200, 'every transaction of the schedule answered');
  const lag = r.stats.sendLagSummary();
  // left for the ticks, they would leave about 150 ms late at p50
  t.ok(lag.p50Ms < 25, `sent late by p50 ${lag.p50Ms} ms: they left from the reads, not from the ticks`);
  t.equal(host.received.length, 200, 'each sent once');
});

t.test('at a low rate the engine sleeps until the next message is due, not a millisecond at a time', async (t) => {
  const host = await cuttingHost(t, 4096);
  const real = globalThis.setTimeout;
  const delays: number[] = [];
  const counting = real as unknown as (fn: () => void, ms?: number, ...args: unknown[]) => NodeJS.Timeout;
  const engine = new LoadEngine({
    host: '127.0.0.1',
    port: host.port,
    wire: DEFAULT_WIRE,
    terminals: terminals.slice(0, 2),
    connections: 2,
    cards,
    codes: [],
    // 20/s for 500 ms: 10 transactions, 50 ms apart
    schedule: new Schedule(20, 20, 500),
    mix: parseMix('purchase=1'),
    amount: 100,
    dispensed: 1,
    timeoutMs: 5000,
    signOn: false,
    seed: 4,
  });
  await engine.open();
  globalThis.setTimeout = ((fn: () => void, ms?: number, ...args: unknown[]) => {
    delays.push(ms ?? 0);
    return counting(fn, ms, ...args);
  }) as unknown as typeof setTimeout;
  t.teardown(() => void (globalThis.setTimeout = real));
  const r = await engine.run();
  globalThis.setTimeout = real;
  await engine.close();
  t.equal(r.stats.answered, 10, 'every transaction of the schedule answered');
  t.equal(host.received.length, 10, 'each sent once');
  // a 1 ms tick would have set about 500 timers over the run
  t.ok(delays.length <= 40, `${delays.length} timers set for 10 messages`);
  t.ok(delays.filter((ms) => ms >= 20).length >= 5, 'most of them for the time to the next message');
});

t.test('frames due in the same tick on one connection go out in one write, each whole', async (t) => {
  const host = await cuttingHost(t, 4096);
  const engine = new LoadEngine({
    host: '127.0.0.1',
    port: host.port,
    wire: DEFAULT_WIRE,
    terminals: terminals.slice(0, 4),
    connections: 1,
    cards,
    codes: [],
    // 200 transactions due at once on the first tick
    schedule: new Schedule(1_000_000, 1_000_000, 0.2),
    mix: parseMix('purchase=1'),
    amount: 100,
    dispensed: 1,
    timeoutMs: 5000,
    signOn: false,
    seed: 1,
  });
  await engine.open();
  const r = await engine.run();
  await engine.close();
  t.equal(r.stats.answered, 200);
  t.ok(host.writesIn.length < 200, `${host.writesIn.length} reads at the host for 200 messages: joined writes`);
  t.equal(host.received.length, 200);
  t.same(new Set(host.received.map((m) => m.mti)), new Set(['0200']));
});


t.test('fewer connections than terminals: as many terminals, spread over the fleet, one per connection', async (t) => {
  const host = await cuttingHost(t, 4096);
  const engine = new LoadEngine({
    host: '127.0.0.1',
    port: host.port,
    wire: DEFAULT_WIRE,
    terminals,
    connections: 3,
    cards,
    codes: [],
    schedule: new Schedule(2000, 2000, 100),
    mix: parseMix('purchase=1'),
    amount: 100,
    dispensed: 1,
    timeoutMs: 5000,
    signOn: true,
    seed: 1,
  });
  const signOn = await engine.open();
  await engine.run();
  await engine.close();
  t.equal(signOn.ok, 3, 'three terminals signed on');
  const signedOn = host.received.filter((m) => m.mti === '0800').map((m) => String(m.fields[41]));
  t.same(signedOn.sort(), ['TPE00001', 'TPE00005', 'TPE00009'], 'spread evenly over the fleet (and its service points)');
  t.same([...new Set(host.received.filter((m) => m.mti === '0200').map((m) => String(m.fields[41])))].sort(), signedOn, 'only they send');
});

t.test('PIN blocks: each deciphers under its own terminal’s PIN key to its card’s PIN, and the engine keeps one clear block per card', async (t) => {
  const host = await cuttingHost(t, 4096);
  // 4 terminals and 3 cards advance together: 12 pairs, each seen many times in 600 messages
  const keyOf = (i: number): string => `0123456789ABCDE${i}FEDCBA987654321${i}`;
  const keyed = terminals.slice(0, 4).map((x, i) => ({ ...x, keys: { mac: '0123456789ABCDEFFEDCBA9876543210', pin: keyOf(i) } }));
  const withPins = cards.map((c, i) => ({ ...c, pin: `${4321 + i}` }));
  const engine = new LoadEngine({
    host: '127.0.0.1',
    port: host.port,
    wire: DEFAULT_WIRE,
    terminals: keyed,
    connections: keyed.length,
    cards: withPins,
    codes: [],
    schedule: new Schedule(2000, 2000, 300),
    mix: parseMix('purchase=1'),
    amount: 100,
    dispensed: 1,
    timeoutMs: 5000,
    signOn: false,
    seed: 4,
  });
  await engine.open();
  const r = await engine.run();
  await engine.close();
  t.equal(r.stats.answered, 600);
  t.equal(r.security.pinBlocks, 600, 'every purchase carried a PIN block');
  const wrong = host.received.filter((m) => {
    const i = keyed.findIndex((x) => x.id === m.fields[41]);
    const card = withPins.find((c) => c.pan === m.fields[2]);
    try {
      return decryptPinBlock0(Buffer.from(keyOf(i), 'hex'), m.fields[52] as Buffer, String(m.fields[2])) !== card?.pin;
    } catch {
      return true;
    }
  });
  t.equal(wrong.length, 0, 'each DE52 is its card’s PIN under its terminal’s key');
  // A cache of enciphered blocks per terminal key and card would grow by every message with the
  // bench fleet (500 terminals, 9,999 cards): no pair comes back within a run.
  const kept = (engine as unknown as { clear0: (Buffer | undefined)[] }).clear0.filter((b) => b !== undefined).length;
  t.equal(kept, withPins.length, 'one clear block per card, whatever the terminals');
});
