/**
 * The MAC rule of a listener that requires one (SWITCH_AUTH=mac): every message on a session
 * after its sign-on carries a MAC in DE64 (DE128 with a secondary bitmap) over the packed
 * message up to that field, under the terminal's MAC key: retail MAC (ISO 9797-1 algorithm 3)
 * for a 3DES key, AES-CMAC for an AES key (protocol/security/message-mac.ts). A sign-on, which
 * may be the one that delivers the keys, and an echo, which needs no session, are exempt.
 *
 * Keys are read once per session and kept with it; a key change or a new sign-on answered 00
 * starts reading them again (`renew`). Messages that arrive while a session's keys are being
 * read wait for that one read: a terminal that sends a burst right after its sign-on must not
 * make a query of each message (a start of 500 terminals at 5,000/s queued thousands of them,
 * and the pool's waits timed out: 96). A key retired less than the grace period ago still
 * verifies, so messages in flight across a key change are not refused.
 */
import type pg from 'pg';
import { acceptedKeys, usableUntil } from '../../db/terminal-keys.js';
import type { IsoMessage, MessageSpec } from '../../protocol/index.js';
import { verifyPackedMessage, type MacVerdict, type KeyAlgorithm } from '../../protocol/security/index.js';
import type { TerminalSession } from '../session.js';

export type SwitchAuth = 'mac' | 'none';

/** Why a message failed the MAC rule (a reason of the security log and of switch_refused_total). */
export type MacRefusal = 'mac_missing' | 'mac_wrong' | 'no_terminal_key';

interface SessionKey {
  algorithm: KeyAlgorithm;
  key: Buffer;
  /** Epoch ms after which it no longer verifies (Infinity for the live key). */
  until: number;
}

interface SessionKeys {
  terminalId: string;
  /** Set once read. */
  keys: SessionKey[] | undefined;
  reading: Promise<SessionKey[]>;
}

/** Whether a message needs a MAC: all but sign-on (DE70 001) and echo (DE70 301). */
export function needsMac(msg: IsoMessage): boolean {
  if (msg.mti.slice(1, 3) !== '80') return true;
  const code = msg.fields[70];
  return code !== '001' && code !== '301';
}

const REFUSAL: Readonly<Record<Exclude<MacVerdict, 'ok'>, MacRefusal>> = {
  missing: 'mac_missing',
  misplaced: 'mac_missing',
  malformed: 'mac_wrong',
  wrong: 'mac_wrong',
};

export class MacGuard {
  private readonly keys = new WeakMap<TerminalSession, SessionKeys>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly kek: Buffer,
    private readonly graceSeconds: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * undefined when `packed` carries the right MAC under one of the terminal's accepted keys. The
   * verdict comes at once when the session already holds the terminal's keys (every message
   * after a session's first), and as a promise while they are read.
   */
  check(spec: MessageSpec, packed: Uint8Array, terminalId: string, session: TerminalSession): MacRefusal | undefined | Promise<MacRefusal | undefined> {
    const held = this.keys.get(session);
    if (held?.terminalId === terminalId) {
      return held.keys !== undefined ? this.verify(spec, packed, held.keys) : held.reading.then((keys) => this.verify(spec, packed, keys));
    }
    return this.read(session, terminalId).then((keys) => this.verify(spec, packed, keys));
  }

  private read(session: TerminalSession, terminalId: string): Promise<SessionKey[]> {
    const reading = acceptedKeys(this.pool, this.kek, terminalId, 'mac', this.graceSeconds).then((rows) =>
      rows.map((r) => ({ algorithm: r.algorithm, key: r.key, until: usableUntil(r, this.graceSeconds) })),
    );
    const entry: SessionKeys = { terminalId, keys: undefined, reading };
    this.keys.set(session, entry);
    // kept only if nothing dropped it meanwhile (a key change); a failed read is not kept, so the next message reads again
    reading.then(
      (keys) => {
        if (this.keys.get(session) === entry) entry.keys = keys;
      },
      () => {
        if (this.keys.get(session) === entry) this.keys.delete(session);
      },
    );
    return reading;
  }

  private verify(spec: MessageSpec, packed: Uint8Array, keys: readonly SessionKey[]): MacRefusal | undefined {
    const now = this.now();
    let verdict: MacVerdict = 'wrong';
    let usable = 0;
    for (const k of keys) {
      if (k.until <= now) continue;
      usable++;
      verdict = verifyPackedMessage(spec, packed, k.algorithm === 'tdes' ? 'retail-mac' : 'aes-cmac', k.key);
      if (verdict === 'ok') return undefined;
      if (verdict !== 'wrong') break; // no MAC field, or not where it must be: no key makes it right
    }
    if (usable === 0) return 'no_terminal_key';
    return REFUSAL[verdict as Exclude<MacVerdict, 'ok'>];
  }

  /**
   * The session's keys may have changed (a key change or sign-on answered 00): they are read
   * again, starting now, so that the terminal's next message finds them read or being read
   * (after a restart, every terminal signs on at once and then sends at once).
   */
  renew(session: TerminalSession): void {
    this.keys.delete(session);
    if (session.terminalId !== null) this.read(session, session.terminalId).catch(() => {}); // not kept: its next message reads again
  }
}
