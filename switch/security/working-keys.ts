/**
 * Working keys of a terminal: a MAC key and a PIN key, made by the switch on the initialising
 * sign-on and on a key change (0800, DE70 161), stored sealed (db/terminal-keys.ts) and sent in
 * the 0810 wrapped under the terminal's master key, in DE48 tags KA, MK, MC, PK, PC
 * (docs/messages.md). They have the master key's algorithm: wrapping never lets a weaker key
 * protect a stronger one. The keys they replace stay accepted for the grace period.
 */
import type pg from 'pg';
import { liveKey, putTerminalKeys } from '../../db/terminal-keys.js';
import { generateKey, wrapKey, type KeyAlgorithm } from '../../protocol/security/index.js';

/** DE48 KA: the algorithm of the master key and of the working keys it carries. */
export const KEY_ALGORITHM_TAG: Readonly<Record<KeyAlgorithm, 'TDES' | 'AES'>> = { tdes: 'TDES', aes: 'AES' };

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex').toUpperCase();

export class WorkingKeys {
  constructor(
    private readonly pool: pg.Pool,
    private readonly kek: Buffer,
  ) {}

  /**
   * New MAC and PIN keys for `terminalId`, stored (the previous ones retired) and returned as
   * the 0810's DE48 tags; undefined when the terminal has no master key to send them under.
   */
  async issue(terminalId: string): Promise<Record<'KA' | 'MK' | 'MC' | 'PK' | 'PC', string> | undefined> {
    const master = await liveKey(this.pool, this.kek, terminalId, 'master');
    if (!master) return undefined;
    const alg = master.algorithm;
    const mac = generateKey(alg, 16);
    const pin = generateKey(alg, 16);
    await putTerminalKeys(this.pool, this.kek, terminalId, [
      { kind: 'mac', algorithm: alg, key: mac },
      { kind: 'pin', algorithm: alg, key: pin },
    ]);
    const wm = wrapKey(alg, master.key, mac);
    const wp = wrapKey(alg, master.key, pin);
    return { KA: KEY_ALGORITHM_TAG[alg], MK: hex(wm.wrapped), MC: hex(wm.kcv), PK: hex(wp.wrapped), PC: hex(wp.kcv) };
  }
}
