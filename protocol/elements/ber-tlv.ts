/**
 * BER-TLV as used by EMV in DE55: tag (1-3 bytes), length (short or long form), value.
 */
import { DecodeError } from '../errors.js';

export interface Tlv {
  /** Tag as upper-case hex, e.g. '9F02'. */
  tag: string;
  value: Buffer;
}

export function parseBerTlv(bytes: Uint8Array, field = 55): Tlv[] {
  const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  const out: Tlv[] = [];
  let i = 0;
  while (i < b.length) {
    const start = i;
    if (b[i] === 0x00 || b[i] === 0xff) {
      i++; // padding between objects
      continue;
    }
    let tagEnd = i + 1;
    if ((b[i] & 0x1f) === 0x1f) {
      while (tagEnd < b.length && (b[tagEnd] & 0x80) !== 0) tagEnd++;
      tagEnd++;
    }
    if (tagEnd > b.length) throw new DecodeError(field, start, 'TLV tag runs past the end');
    if (tagEnd - i > 4) throw new DecodeError(field, start, 'TLV tag longer than 4 bytes');
    if (tagEnd === b.length) throw new DecodeError(field, tagEnd, 'TLV length missing');
    const tag = b.toString('hex', i, tagEnd).toUpperCase();
    i = tagEnd;
    let len = b[i++];
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 3) throw new DecodeError(field, i - 1, `TLV length of ${n} bytes`);
      if (i + n > b.length) throw new DecodeError(field, i, 'TLV length runs past the end');
      len = 0;
      for (let k = 0; k < n; k++) len = len * 256 + b[i++];
    }
    if (i + len > b.length) throw new DecodeError(field, i, `TLV ${tag} value of ${len} bytes runs past the end`);
    out.push({ tag, value: Buffer.from(b.subarray(i, i + len)) });
    i += len;
  }
  return out;
}

export function buildBerTlv(items: readonly Tlv[]): Buffer {
  const parts: Buffer[] = [];
  for (const { tag, value } of items) {
    const t = Buffer.from(tag, 'hex');
    const len = value.length;
    const l = len < 0x80 ? Buffer.from([len]) : len < 0x100 ? Buffer.from([0x81, len]) : Buffer.from([0x82, len >> 8, len & 0xff]);
    parts.push(t, l, Buffer.from(value));
  }
  return Buffer.concat(parts);
}
