/**
 * The MAC of a packed ISO 8583 message: taken over the message's bytes (MTI, bitmaps, fields;
 * no frame header or TPDU) up to its MAC field, which is DE64 when the message has only a
 * primary bitmap and DE128 when it has a secondary one. Both are the last field their bitmap
 * can name, so a well-formed message ends with its MAC field; the caller passes a message that
 * has decoded. A secondary-bitmap message that carries DE64 is refused as misplaced: fields
 * after DE64 would not be covered.
 *
 * The spec is read only for where things are (MTI and bitmap encodings, the MAC field's
 * encoding); a protocol MessageSpec fits `MacPlacementSpec` as it is.
 */
import { aesCmacTruncated, verifyAesCmac } from './aes-cmac.js';
import { MacParameterError } from './errors.js';
import { retailMac, verifyRetailMac } from './retail-mac.js';

export type MessageMacAlgorithm = 'retail-mac' | 'aes-cmac';

/** Bytes of MAC carried in DE64 / DE128 (b8). */
export const MESSAGE_MAC_LENGTH = 8;

interface MacFieldShape {
  readonly encoding: string;
  readonly lengthType: string;
  readonly length: number;
}

/** The parts of a message spec that place the MAC. */
export interface MacPlacementSpec {
  readonly mti: { readonly encoding: 'ascii' | 'bcd' | 'ebcdic' };
  readonly bitmap: { readonly encoding: 'binary' | 'hex'; readonly tertiary?: boolean };
  readonly fields: Readonly<Record<number, MacFieldShape | undefined>>;
}

export interface MacPlacement {
  field: 64 | 128;
  /** Offset of the MAC field: the MAC covers bytes [0, start). */
  start: number;
  /** The MAC field is written as 16 hex digits rather than 8 bytes. */
  hex: boolean;
}

/** `ok`; or why the message fails: no MAC field, DE64 beside a secondary bitmap, MAC differs, bytes too short or bad bitmap. */
export type MacVerdict = 'ok' | 'missing' | 'misplaced' | 'wrong' | 'malformed';

const HEX = /^[0-9A-Fa-f]*$/;

function readBitmap(packed: Uint8Array, at: number, hex: boolean): Buffer | undefined {
  const len = hex ? 16 : 8;
  if (at + len > packed.length) return undefined;
  const raw = Buffer.from(packed.subarray(at, at + len));
  if (!hex) return raw;
  const text = raw.toString('latin1');
  return HEX.test(text) ? Buffer.from(text, 'hex') : undefined;
}

function bitSet(bitmap: Buffer, bit: number): boolean {
  return (bitmap[(bit - 1) >> 3] & (0x80 >> ((bit - 1) & 7))) !== 0;
}

/** Where the MAC field of `packed` is, or why it is not where it must be. */
export function locateMac(spec: MacPlacementSpec, packed: Uint8Array): MacPlacement | 'missing' | 'misplaced' | 'malformed' {
  if (spec.bitmap.tertiary) throw new MacParameterError('message MAC with a tertiary bitmap is not supported');
  const hexBitmap = spec.bitmap.encoding === 'hex';
  let at = spec.mti.encoding === 'bcd' ? 2 : 4;
  const primary = readBitmap(packed, at, hexBitmap);
  if (!primary) return 'malformed';
  at += hexBitmap ? 16 : 8;
  const hasSecondary = bitSet(primary, 1);
  let secondary: Buffer | undefined;
  if (hasSecondary) {
    secondary = readBitmap(packed, at, hexBitmap);
    if (!secondary) return 'malformed';
    at += hexBitmap ? 16 : 8;
    if (bitSet(primary, 64)) return 'misplaced';
    if (!bitSet(secondary, 64)) return 'missing';
  } else if (!bitSet(primary, 64)) {
    return 'missing';
  }
  const field = hasSecondary ? 128 : 64;
  const f = spec.fields[field];
  if (!f || f.lengthType !== 'fixed' || f.length !== MESSAGE_MAC_LENGTH || (f.encoding !== 'binary' && f.encoding !== 'hex')) {
    throw new MacParameterError(`DE${field} must be a fixed 8-byte binary or hex field in this spec`);
  }
  const hex = f.encoding === 'hex';
  const start = packed.length - (hex ? 2 * MESSAGE_MAC_LENGTH : MESSAGE_MAC_LENGTH);
  if (start < at) return 'malformed';
  return { field, start, hex };
}

/** The 8-byte MAC of `data` by the algorithm (retail MAC with padding 1, or AES-CMAC truncated to 8). */
export function messageMac(algorithm: MessageMacAlgorithm, key: Uint8Array, data: Uint8Array): Buffer {
  if (algorithm === 'retail-mac') return retailMac(key, data);
  if (algorithm === 'aes-cmac') return aesCmacTruncated(key, data, MESSAGE_MAC_LENGTH);
  throw new MacParameterError(`unknown MAC algorithm ${String(algorithm)}`);
}

/**
 * A copy of `packed` with its MAC field (DE64 or DE128, present with any placeholder value)
 * set to the MAC of the bytes before it.
 */
export function signPackedMessage(spec: MacPlacementSpec, packed: Uint8Array, algorithm: MessageMacAlgorithm, key: Uint8Array): Buffer {
  const place = locateMac(spec, packed);
  if (typeof place === 'string') throw new MacParameterError(`cannot sign: MAC field ${place}`);
  const out = Buffer.from(packed);
  const mac = messageMac(algorithm, key, out.subarray(0, place.start));
  if (place.hex) out.write(mac.toString('hex').toUpperCase(), place.start, 'latin1');
  else mac.copy(out, place.start);
  return out;
}

/** Whether `packed` carries, as its last field, the right MAC under `key`. Constant-time compare. */
export function verifyPackedMessage(spec: MacPlacementSpec, packed: Uint8Array, algorithm: MessageMacAlgorithm, key: Uint8Array): MacVerdict {
  const place = locateMac(spec, packed);
  if (typeof place === 'string') return place;
  const data = packed.subarray(0, place.start);
  let mac: Buffer;
  if (place.hex) {
    const text = Buffer.from(packed.subarray(place.start)).toString('latin1');
    if (!HEX.test(text)) return 'wrong';
    mac = Buffer.from(text, 'hex');
  } else {
    mac = Buffer.from(packed.subarray(place.start));
  }
  const ok = algorithm === 'retail-mac' ? verifyRetailMac(key, data, mac) : algorithm === 'aes-cmac' ? verifyAesCmac(key, data, mac) : undefined;
  if (ok === undefined) throw new MacParameterError(`unknown MAC algorithm ${String(algorithm)}`);
  return ok ? 'ok' : 'wrong';
}
