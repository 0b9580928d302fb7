// A terminal's keys are read once however many of its messages arrive while they are being read:
// a burst right after a sign-on must not make a query of each message. Before this rule, 500
// terminals starting at 5,000/s queued thousands of key reads on the switch's pool, whose waits
// then timed out (96). The MAC's keys are read per session, the PIN's per terminal; a key change
// starts a new read at once (renew), and a failed read makes the next message read again.
import t from 'tap';
import type pg from 'pg';
import { MacGuard } from '../../switch/security/mac.js';
import { PinReader } from '../../switch/security/pin.js';
import { TerminalSession } from '../../switch/session.js';
import { ascii87 } from '../../protocol/index.js';

const KEK = Buffer.alloc(32, 7);

/** A pool whose queries wait until released; counts them. No rows: the terminal has no keys. */
function slowPool(): { pool: pg.Pool; queries: () => number; release: () => void; failNext: () => void } {
  let n = 0;
  let waiting: (() => void)[] = [];
  let fail = false;
  const pool = {
    query: async () => {
      n++;
      const failing = fail;
      fail = false;
      await new Promise<void>((r) => waiting.push(r));
      if (failing) throw new Error('connection lost');
      return { rows: [] };
    },
  } as unknown as pg.Pool;
  return {
    pool,
    queries: () => n,
    release: () => {
      const w = waiting;
      waiting = [];
      w.forEach((r) => r());
    },
    failNext: () => {
      fail = true;
    },
  };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('MAC keys: one read per session, whatever arrives meanwhile', async (t) => {
  const db = slowPool();
  const guard = new MacGuard(db.pool, KEK, 60);
  const session = new TerminalSession();
  const packed = Buffer.from('0200');
  const verdicts = Array.from({ length: 20 }, () => guard.check(ascii87, packed, 'T1', session));
  await settle();
  t.equal(db.queries(), 1, 'twenty messages during the read: one query');
  db.release();
  t.same(await Promise.all(verdicts), Array(20).fill('no_terminal_key'), 'each message gets the verdict of the keys read');
  t.equal(guard.check(ascii87, packed, 'T1', session), 'no_terminal_key', 'once read, the verdict comes at once');
  t.equal(db.queries(), 1);

  const other = new TerminalSession();
  const p = guard.check(ascii87, packed, 'T1', other);
  await settle();
  t.equal(db.queries(), 2, 'another session reads its own');
  db.release();
  await p;

  // a key change or sign-on answered 00: the keys are read again at once, before the next message
  session.terminalId = 'T1';
  guard.renew(session);
  await settle();
  t.equal(db.queries(), 3, 'a key change starts the read itself');
  const again = guard.check(ascii87, packed, 'T1', session);
  await settle();
  t.equal(db.queries(), 3, 'the next message joins that read');
  guard.renew(session); // a second change while that read is in flight
  const newer = guard.check(ascii87, packed, 'T1', session);
  await settle();
  t.equal(db.queries(), 4, 'a read started before a key change is not joined after it');
  db.release();
  await Promise.all([again, newer]);
  t.equal(guard.check(ascii87, packed, 'T1', session), 'no_terminal_key', 'the newer read is kept');

  db.failNext();
  guard.renew(session);
  await settle();
  db.release();
  await settle();
  const retried = guard.check(ascii87, packed, 'T1', session);
  await settle();
  t.equal(db.queries(), 6, 'a failed read is not kept: the next message reads again');
  db.release();
  t.equal(await retried, 'no_terminal_key');

  const unbound = new TerminalSession();
  guard.renew(unbound);
  await settle();
  t.equal(db.queries(), 6, 'a session without a terminal reads nothing');
});

t.test('PIN keys: one read per terminal, whatever arrives meanwhile', async (t) => {
  const db = slowPool();
  const pins = new PinReader(db.pool, KEK, 60, 'secret');
  const block = Buffer.alloc(8, 1);
  const digests = Array.from({ length: 20 }, (_, i) => pins.digest('T1', block, '4000001234567899', i + 1));
  await settle();
  t.equal(db.queries(), 1, 'twenty blocks during the read: one query');
  db.release();
  t.same(await Promise.all(digests), Array(20).fill(''), 'no key: each block reads as a wrong PIN');
  t.equal(db.queries(), 1, 'keys read just now are not read again for a block they do not read');

  pins.renew('T1');
  await settle();
  t.equal(db.queries(), 2, 'a key change starts the read itself');
  const a = pins.digest('T1', block, '4000001234567899', 1);
  await settle();
  t.equal(db.queries(), 2, 'the next block joins that read');
  pins.renew('T1');
  const b = pins.digest('T1', block, '4000001234567899', 1);
  await settle();
  t.equal(db.queries(), 3, 'a read started before a key change is not joined after it');
  db.release();
  await settle();
  db.release();
  await Promise.all([a, b]);

  // a fresh read (the kept keys did not read the block) joins one in flight only if it started less than a second ago
  let clock = 1_000_000;
  const timed = slowPool();
  const late = new PinReader(timed.pool, KEK, 60, 'secret', () => clock);
  const first = late.digest('T2', block, '4000001234567899', 1);
  await settle();
  clock += 5_000; // the read is slow
  const second = late.digest('T2', block, '4000001234567899', 1);
  await settle();
  t.equal(timed.queries(), 1, 'a block that finds a read in flight joins it');
  timed.release();
  await settle();
  t.equal(timed.queries(), 2, 'its fresh read does not take the keys of a read started 5 s before it');
  timed.release();
  await settle();
  timed.release();
  t.same(await Promise.all([first, second]), ['', '']);
});
