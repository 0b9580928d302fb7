/**
 * The terminal firmware's keys: the master key injected by the technician, and the working keys
 * (MAC, PIN) the switch sends wrapped under it in the 0810 of the initialising sign-on and of a
 * key change (DE48 KA, MK, MC, PK, PC; docs/messages.md). A firmware unwraps them, checks each
 * against its check value, and keeps them; a delivery that does not unwrap is refused whole, and
 * the keys it held stay.
 */
import { parseDe48, type IsoMessage } from '../protocol/index.js';
import { combineComponents, unwrapKey, type KeyAlgorithm } from '../protocol/security/index.js';

export interface MasterKey {
  algorithm: KeyAlgorithm;
  key: Buffer;
}

export interface WorkingKeySet {
  algorithm: KeyAlgorithm;
  mac: Buffer;
  pin: Buffer;
}

const ALGORITHMS: Readonly<Record<string, KeyAlgorithm>> = { TDES: 'tdes', AES: 'aes' };

export class KeyDeliveryError extends Error {
  constructor(reason: string) {
    super(`working keys refused: ${reason}`);
    this.name = 'KeyDeliveryError';
  }
}

/** The master key typed in as clear components (hex), checked against the printed check value. */
export function injectMasterKey(algorithm: KeyAlgorithm, componentsHex: string[], kcvHex: string): MasterKey {
  const key = combineComponents(algorithm, componentsHex.map((c) => Buffer.from(c, 'hex')), Buffer.from(kcvHex, 'hex'));
  return { algorithm, key };
}

export class Keyring {
  working: WorkingKeySet | undefined;

  constructor(readonly master: MasterKey | undefined) {}

  /**
   * Installs the working keys an 0810 carries: true when it carried some, false when none;
   * KeyDeliveryError when they do not unwrap under the master key or fail their check values.
   */
  install(answer: IsoMessage): boolean {
    const de48 = answer.fields[48];
    if (typeof de48 !== 'string') return false;
    const tags = parseDe48(de48);
    if (tags.MK === undefined && tags.PK === undefined) return false;
    if (!this.master) throw new KeyDeliveryError('no master key injected');
    const algorithm = ALGORITHMS[tags.KA ?? ''];
    if (algorithm !== this.master.algorithm) throw new KeyDeliveryError(`algorithm ${tags.KA ?? '(none)'} is not the master key's`);
    if (!tags.MK || !tags.MC || !tags.PK || !tags.PC) throw new KeyDeliveryError('a key or check value is missing');
    try {
      const mac = unwrapKey(algorithm, this.master.key, Buffer.from(tags.MK, 'hex'), Buffer.from(tags.MC, 'hex'));
      const pin = unwrapKey(algorithm, this.master.key, Buffer.from(tags.PK, 'hex'), Buffer.from(tags.PC, 'hex'));
      this.working = { algorithm, mac, pin };
      return true;
    } catch (e) {
      throw new KeyDeliveryError((e as Error).message);
    }
  }
}
