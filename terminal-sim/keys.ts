/**
 * The terminal firmware's keys: the master key injected by the technician, and the working keys
 * (MAC, PIN) the switch sends wrapped under it in the 0810 of the initialising sign-on and of a
 * key change (DE48 KA, MK, MC, PK, PC; docs/messages.md). A firmware unwraps them, checks each
 * against its check value, and keeps them; a delivery that does not unwrap is refused whole, and
 * the keys it held stay.
 */
import { buildDe48, parseDe48, type IsoFields, type IsoMessage } from '../protocol/index.js';
import { combineComponents, encipherPinBlock4, encryptPinBlock0, signPackedMessage, unwrapKey, type KeyAlgorithm, type MacPlacementSpec } from '../protocol/security/index.js';

export interface MasterKey {
  algorithm: KeyAlgorithm;
  key: Buffer;
}

export interface WorkingKeySet {
  algorithm: KeyAlgorithm;
  mac: Buffer;
  pin: Buffer;
}

/**
 * The cardholder's PIN as the PIN pad sends it, set into `fields`: under a 3DES PIN key an
 * ISO 9564 format 0 block in DE52 (b8); under an AES PIN key a format 4 block, 16 bytes that
 * DE52 cannot hold, as DE48 PB (32 hex digits), DE48's other tags kept.
 */
export function putCardholderPin(fields: IsoFields, keys: WorkingKeySet, pin: string, pan: string): void {
  if (keys.algorithm === 'tdes') {
    fields[52] = encryptPinBlock0(keys.pin, pin, pan);
    return;
  }
  const de48 = typeof fields[48] === 'string' ? parseDe48(fields[48]) : {};
  fields[48] = buildDe48({ ...de48, PB: pinBlock4Hex(keys.pin, pin, pan) });
}

/** The format 4 block of DE48 PB. */
export function pinBlock4Hex(key: Buffer, pin: string, pan: string): string {
  return encipherPinBlock4(key, pin, pan).toString('hex').toUpperCase();
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

/**
 * Whether the firmware MACs a message (docs/messages.md, "MAC"): every message of a session
 * but the sign-on, which may be the one that brings the keys, and the echo, which needs none.
 */
export function macRequired(msg: IsoMessage): boolean {
  if (msg.mti.slice(1, 3) !== '80') return true;
  return msg.fields[70] !== '001' && msg.fields[70] !== '301';
}

/** The MAC field of `msg`: DE128 when it has a field above 64 (a secondary bitmap), else DE64. */
export function macField(msg: IsoMessage): 64 | 128 {
  return Object.keys(msg.fields).some((de) => Number(de) > 64) ? 128 : 64;
}

/** `msg` with an 8-byte placeholder in its MAC field, to be signed once packed. */
export function withMacPlaceholder(msg: IsoMessage): IsoMessage {
  return { ...msg, fields: { ...msg.fields, [macField(msg)]: Buffer.alloc(8) } };
}

/** Sets the MAC of a packed message (with its placeholder) in place, under the working MAC key. */
export function signInPlace(spec: MacPlacementSpec, packed: Buffer, keys: WorkingKeySet): void {
  signPackedMessage(spec, packed, keys.algorithm === 'tdes' ? 'retail-mac' : 'aes-cmac', keys.mac).copy(packed);
}
