/**
 * PANs at rest: a card row holds no clear PAN. It holds
 *  - its lookup key: HMAC-SHA256 of the PAN under HASH_SECRET, the same bytes as panKey's hex
 *    (db/cache-keys.ts), so the switch finds a card, in Redis or in PostgreSQL, by one HMAC;
 *  - the PAN sealed with AES-256-GCM under the key-encryption key (db/kek.ts), as terminal keys
 *    are (db/terminal-keys.ts): nonce (12) ‖ ciphertext ‖ tag (16). The associated data binds it
 *    to its lookup key, so a sealed PAN copied into another card's row fails to open;
 *  - its first 6 and last 4 digits, what a masked PAN shows and what a search by last 4 reads.
 * The full PAN comes back only where a card is created (shown once) and for demo data.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { panKey } from './cache-keys.js';

const NONCE = 12;
const TAG = 16;

export class SealedPanError extends Error {
  constructor() {
    super('a sealed PAN does not open under this key-encryption key (wrong KEY_ENCRYPTION_KEY or HASH_SECRET, or altered row)');
    this.name = 'SealedPanError';
  }
}

/** What a card row keeps of its PAN. */
export interface PanColumns {
  /** HMAC-SHA256 (32 bytes): cards.pan_key. */
  key: Buffer;
  sealed: Buffer;
  first6: string;
  last4: string;
}

/** Bytes a sealed PAN has beyond the PAN's digits (nonce and tag): its length tells the PAN's. */
export const SEAL_OVERHEAD = NONCE + TAG;

function associatedData(keyHex: string): Buffer {
  return Buffer.from(`cynod-card-pan:1:${keyHex}`, 'utf8');
}

export class PanVault {
  private readonly kek: Buffer;

  constructor(
    kek: Uint8Array,
    private readonly secret: string,
  ) {
    if (kek.length !== 32) throw new RangeError('the key-encryption key is 32 bytes');
    if (secret === '') throw new RangeError('HASH_SECRET is empty');
    this.kek = Buffer.from(kek);
  }

  /** The lookup key, hex: panKey(pan, HASH_SECRET), also the card's cache key. */
  keyHex(pan: string): string {
    return panKey(pan, this.secret);
  }

  /** The lookup key, 32 bytes (cards.pan_key). */
  key(pan: string): Buffer {
    return Buffer.from(this.keyHex(pan), 'hex');
  }

  /** nonce ‖ ciphertext ‖ tag of the PAN, bound to its lookup key. */
  seal(pan: string): Buffer {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', this.kek, nonce);
    c.setAAD(associatedData(this.keyHex(pan)));
    const body = Buffer.concat([c.update(pan, 'utf8'), c.final()]);
    return Buffer.concat([nonce, body, c.getAuthTag()]);
  }

  /** The PAN sealed in a row whose lookup key is `key` (bytes or hex); SealedPanError otherwise. */
  open(sealed: Uint8Array, key: Uint8Array | string): string {
    const keyHex = typeof key === 'string' ? key.toLowerCase() : Buffer.from(key).toString('hex');
    if (sealed.length < NONCE + TAG + 1) throw new SealedPanError();
    let pan: string;
    try {
      const d = createDecipheriv('aes-256-gcm', this.kek, sealed.subarray(0, NONCE));
      d.setAAD(associatedData(keyHex));
      d.setAuthTag(sealed.subarray(sealed.length - TAG));
      pan = Buffer.concat([d.update(sealed.subarray(NONCE, sealed.length - TAG)), d.final()]).toString('utf8');
    } catch {
      throw new SealedPanError();
    }
    // the key is the PAN's HMAC under HASH_SECRET: another secret than the one that stored it shows here
    if (this.keyHex(pan) !== keyHex) throw new SealedPanError();
    return pan;
  }

  /** Everything a card row keeps of `pan`. */
  columns(pan: string): PanColumns {
    return { key: this.key(pan), sealed: this.seal(pan), first6: pan.slice(0, 6), last4: pan.slice(-4) };
  }
}
