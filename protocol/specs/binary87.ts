/**
 * binary87: ISO 8583:1987 in the BCD/binary form of jPOS's ISO87BPackager, which
 * many POS terminals speak: BCD MTI, binary bitmap, numerics packed BCD (odd fixed
 * lengths padded with a leading 0 nibble, odd variable lengths with a trailing one),
 * track 2 separator as nibble D, BCD length prefixes (LL 1 byte, LLL 2 bytes),
 * x+n as one ASCII sign byte then BCD digits, text ASCII, b raw bytes.
 *
 * Like jPOS: currency codes 49-51 stay ASCII, 34/36/118-127 are plain text,
 * 55 is binary (EMV data), 93 has 6 characters and 96 has 16 bytes, and amounts
 * accept the sign '0' besides C and D (jPOS does not check the sign).
 */
import { buildSpec, overrideEach } from './build.js';
import { ISO87_ELEMENTS } from './iso87.js';

export const binary87 = buildSpec(
  'binary87',
  ISO87_ELEMENTS,
  {
    mti: 'bcd',
    bitmap: { encoding: 'binary', secondary: 'auto' },
    prefix: 'bcd',
    numeric: 'bcd',
    text: 'ascii',
    binary: 'binary',
  },
  {
    ...overrideEach([28, 29, 30, 31, 97], { signs: 'CD0' }),
    34: { type: 'ans' },
    36: { type: 'ans', encoding: 'ascii' },
    ...overrideEach([49, 50, 51], { type: 'an', encoding: 'ascii' }),
    55: { type: 'b', encoding: 'binary' },
    93: { length: 6 },
    96: { length: 16 },
  },
);
