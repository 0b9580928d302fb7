// Hostile input over TCP: a corpus of malformed frames by class, then a fuzzing pass over the
// server. Each gets 30 or a closed connection; the switch keeps serving the other terminals;
// nothing of it is posted. The counts per class are printed for the report table.
import t from 'tap';
import fc from 'fast-check';
import net from 'node:net';
import { testDb } from '../helpers/db.js';
import { makeWorld } from '../helpers/world.js';
import { TestTerminal, de7, nextStan, testSwitch } from '../helpers/switch.js';
import { checkLedger } from '../../db/check.js';
import { Codec, Framer, ascii87, buildDe48, frame, type IsoMessage } from '../../protocol/index.js';

const RUNS = Number(process.env.TCP_FUZZ_RUNS ?? 300);

/** A sign-on of `terminalId` written before the hostile bytes: they reach the parser, not only the session check. */
function signOnFrame(terminalId: string): { bytes: Buffer; stan: string } {
  const stan = nextStan();
  return { bytes: frame(new Codec(ascii87).encode({ mti: '0800', fields: { 7: de7(), 11: stan, 41: terminalId, 70: '001' } })), stan };
}

/**
 * What the switch did with one frame: answered 30 (or another code), or closed the connection.
 * With `signOn`, the terminal signs on first on the same connection (its answer is not counted).
 */
async function throwAt(port: number, bytes: Buffer, timeoutMs = 900, signOn?: { bytes: Buffer; stan: string }): Promise<'closed' | string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const f = new Framer();
    const codec = new Codec(ascii87);
    let done = false;
    const finish = (v: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => finish('silent'), timeoutMs);
    s.on('connect', () => s.write(signOn ? Buffer.concat([signOn.bytes, bytes]) : bytes));
    s.on('data', (d) => {
      try {
        f.push(d, (body) => {
          const m = codec.decode(body);
          if (signOn && m.mti === '0810' && m.fields[11] === signOn.stan) return;
          finish(String(m.fields[39] ?? 'no-39'));
        });
      } catch {
        finish('bad-answer');
      }
    });
    s.on('close', () => finish('closed'));
    s.on('error', () => finish('closed'));
  });
}

t.test('hostile input over TCP', async (t) => {
  const db = await testDb(t, { max: 20 });
  const w = await makeWorld(db.pool);
  await db.pool.query('UPDATE terminals SET initialized_at = now()');
  const sw = await testSwitch(t, db, { SWITCH_FRAME_TIMEOUT_MS: '500' });
  const victim = await w.card(0); // any purchase that slipped through would be declined, not posted
  const control = await w.card(1_000_000);
  const codec = new Codec(ascii87);
  const valid = (): IsoMessage => ({
    mti: '0200',
    fields: { 2: victim.pan, 14: victim.expiry, 3: '000000', 4: '000000001000', 7: de7(), 11: nextStan(), 41: w.terminal2, 42: 'PS_SENOSOFT    ', 48: buildDe48({ SV: 'FUEL' }), 49: '952' },
  });
  const body = (): Buffer => codec.encode(valid());
  const good = await TestTerminal.signedOn(sw.port, w.terminal);
  t.teardown(() => good.close());
  const controlBuy = (): IsoMessage => ({ ...valid(), fields: { ...valid().fields, 2: control.pan, 14: control.expiry, 41: w.terminal, 4: '000000000100' } });
  const entriesBefore = (await checkLedger(db.pool)).entries;

  const b = body();
  const classes: Record<string, Buffer[]> = {
    truncated: [4, 8, 12, 13, 20, 30, 50, b.length - 1].map((n) => frame(b.subarray(0, n))),
    'oversized length': [Buffer.from([0xff, 0xff]), Buffer.from([0x10, 0x01]), Buffer.concat([Buffer.from([0x20, 0x00]), Buffer.alloc(100)])],
    'bad bitmap': [
      frame(Buffer.concat([Buffer.from('0200'), Buffer.from([0x80, 0, 0, 0, 0, 0, 0, 0])])), // secondary announced, missing
      frame(Buffer.concat([Buffer.from('0200'), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(16)])),
      frame(Buffer.concat([Buffer.from('0200'), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0])])), // no fields at all
      frame(Buffer.from('0200\x00\x00')), // bitmap cut short
    ],
    'non-numeric numerics': [
      frame(Buffer.from(b.toString('latin1').replace('000000001000', '0000000010X0'), 'latin1')),
      frame(Buffer.from(b.toString('latin1').replace(/^0200/, '02A0'), 'latin1')),
      frame(Buffer.from(b.toString('latin1').replace('952', '9 2'), 'latin1')),
    ],
    'LLVAR past the end': [frame(Buffer.concat([b.subarray(0, 12), Buffer.from('99'), b.subarray(14, 30)])), frame(Buffer.concat([b.subarray(0, 12), Buffer.from('AB')]))],
    'secondary bitmap without data': [frame(Buffer.concat([Buffer.from('0200'), Buffer.from([0xc0, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0x00, 0x00])]))],
    'random bytes': Array.from({ length: 40 }, (_, i) => Buffer.from(Array.from({ length: 1 + ((i * 37) % 300) }, (_, j) => (i * 131 + j * 7) & 0xff))),
    'mutated valid messages': Array.from({ length: 60 }, (_, i) => {
      const m = Buffer.from(body());
      m[(i * 13) % m.length] ^= 1 + (i % 254);
      return frame(m);
    }),
  };

  const table: string[] = [];
  for (const [name, frames] of Object.entries(classes)) {
    const outcomes: Record<string, number> = {};
    for (const bytes of frames) {
      // each frame twice: from a connection with no session, and after a sign-on of the terminal it names
      for (const signOn of [undefined, signOnFrame(w.terminal2)]) {
        const r = await throwAt(sw.port, bytes, 900, signOn);
        outcomes[r] = (outcomes[r] ?? 0) + 1;
      }
    }
    // 'silent': a mutated MTI that is not a request (a response, say) is dropped without an answer.
    const bad = Object.keys(outcomes).filter((k) => !['closed', 'silent', '30', '12', '14', '51', '57', '58', '03', '13', '94', '54', '62', '25'].includes(k));
    t.same(bad, [], `${name}: ${JSON.stringify(outcomes)}`);
    t.equal((await good.send(controlBuy())).fields[39], '00', `${name}: the switch still serves another terminal`);
    table.push(`| ${name} | ${frames.length} | ${JSON.stringify(outcomes)} |`);
  }

  // Fuzzing pass over the server: random streams and mutated frames, several frames per connection.
  const fuzzOutcomes: Record<string, number> = {};
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, x]) => {
        const m = Buffer.from(body());
        m[at % m.length] ^= x;
        return frame(m);
      })), { minLength: 1, maxLength: 4 }),
      async (chunks) => {
        const r = await throwAt(sw.port, Buffer.concat(chunks.map((c) => Buffer.from(c))), 900, signOnFrame(w.terminal2));
        fuzzOutcomes[r] = (fuzzOutcomes[r] ?? 0) + 1;
        return r !== 'bad-answer';
      },
    ),
    { numRuns: RUNS },
  );
  t.pass(`fuzz over TCP, ${RUNS} runs: ${JSON.stringify(fuzzOutcomes)}`);
  table.push(`| fuzz (random + mutated streams) | ${RUNS} | ${JSON.stringify(fuzzOutcomes)} |`);
  t.equal((await good.send(controlBuy())).fields[39], '00', 'after the fuzzing pass, still serving');

  const after = await checkLedger(db.pool);
  const controls = Object.keys(classes).length + 1;
  t.equal(after.entries - entriesBefore, controls * 2, 'the only entries written are the control purchases\'');
  t.ok(after.ok, 'the ledger balances');
  t.equal((await db.pool.query('SELECT balance FROM accounts a JOIN cards c ON c.account_id = a.id WHERE c.id = $1', [victim.id])).rows[0].balance, 0);
  t.comment(`\n| input class | cases | outcomes |\n|---|---|---|\n${table.join('\n')}`);
});
