/**
 * The cardholder PIN of a message: an ISO 9564 format 0 PIN block under the terminal's 3DES PIN
 * key (DE52's 8 bytes), or a format 4 block under its AES PIN key (DE48 PB's 16), read back to
 * the PIN, which leaves this module only as the card's digest (db/secrets.ts cardPinDigest) for
 * the ledger's rule to compare with the stored one. A block that cannot be read (no PIN key, a
 * key of another kind, a malformed block) gives '': a wrong PIN, counted as one.
 *
 * Keys are read per terminal and kept a minute; a key change or an initialising sign-on starts
 * reading them again (`renew`), and a block that no kept key reads makes them be read again
 * once, for the keys another switch process may have issued since. A key retired less than the
 * grace period ago still reads, like the MAC's. Blocks that come while a terminal's keys are
 * being read wait for that one read (switch/security/mac.ts says why).
 */
import type pg from 'pg';
import { acceptedKeys, usableUntil } from '../../db/terminal-keys.js';
import { cardPinDigest } from '../../db/secrets.js';
import { decipherPinBlock4, decryptPinBlock0 } from '../../protocol/security/index.js';

const KEEP_MS = 60_000;

interface Held {
  keys: { key: Buffer; aes: boolean; until: number }[];
  readAt: number;
}

export class PinReader {
  private readonly held = new Map<string, Held>();
  /** Reads in flight, by terminal. */
  private readonly reading = new Map<string, { startedAt: number; keys: Promise<Held> }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly kek: Buffer,
    private readonly graceSeconds: number,
    private readonly secret: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** The digest of the PIN in `block` for `cardId` (whose PAN is `pan`), or '' when it cannot be read. */
  async digest(terminalId: string, block: Uint8Array, pan: string, cardId: number): Promise<string> {
    const pin = (await this.clear(terminalId, block, pan, false)) ?? (await this.clear(terminalId, block, pan, true));
    return pin === undefined ? '' : cardPinDigest(this.secret, cardId, pin);
  }

  /** The terminal's keys changed: they are read again, starting now (switch/security/mac.ts `renew` says why). */
  renew(terminalId: string): void {
    this.held.delete(terminalId);
    this.reading.delete(terminalId);
    this.read(terminalId, this.now(), false).catch(() => {}); // not kept: its next PIN reads again
  }

  private async clear(terminalId: string, block: Uint8Array, pan: string, fresh: boolean): Promise<string | undefined> {
    const now = this.now();
    let h = this.held.get(terminalId);
    if (fresh && h !== undefined && now - h.readAt < 1_000) return undefined; // read just now: nothing newer
    if (fresh || h === undefined || now - h.readAt > KEEP_MS) h = await this.read(terminalId, now, fresh);
    // the block's length names its format, and the format the kind of key: a 3DES block under
    // an AES key (or the reverse) is a wrong PIN, never a guess at another reading
    const aes = block.length === 16;
    for (const k of h.keys) {
      if (k.until <= now || k.aes !== aes) continue;
      try {
        return aes ? decipherPinBlock4(k.key, block, pan) : decryptPinBlock0(k.key, block, pan);
      } catch {
        // not this key, or not a PIN block: the next key, then the verdict ''
      }
    }
    return undefined;
  }

  /**
   * The terminal's keys, from the read in flight if there is one (for a fresh read, one started
   * less than a second ago, as for kept keys), else from a new one.
   */
  private read(terminalId: string, now: number, fresh: boolean): Promise<Held> {
    const inFlight = this.reading.get(terminalId);
    if (inFlight !== undefined && (!fresh || now - inFlight.startedAt < 1_000)) return inFlight.keys;
    const entry = {
      startedAt: now,
      keys: acceptedKeys(this.pool, this.kek, terminalId, 'pin', this.graceSeconds).then(
        (rows): Held => {
          const h = { keys: rows.map((r) => ({ key: r.key, aes: r.algorithm === 'aes', until: usableUntil(r, this.graceSeconds) })), readAt: now };
          // kept only if no key change dropped the read meanwhile
          if (this.reading.get(terminalId) === entry) {
            this.reading.delete(terminalId);
            this.held.set(terminalId, h);
          }
          return h;
        },
        (e: unknown) => {
          if (this.reading.get(terminalId) === entry) this.reading.delete(terminalId);
          throw e;
        },
      ),
    };
    this.reading.set(terminalId, entry);
    return entry.keys;
  }
}
