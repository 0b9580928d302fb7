/**
 * ascii87: the host interface's default (DESIGN.md §3), wire-compatible with the
 * npm package `iso_8583`'s defaults: ASCII MTI, binary bitmap (secondary only when
 * a field 65-128 is present), numerics ASCII right-justified zero-padded, text ASCII
 * left-justified space-padded, ASCII decimal length prefixes, b fields raw bytes.
 *
 * Where iso_8583 departs from ISO 8583:1987 with a type choice, this spec follows
 * iso_8583 (37/38 anp, 40/49/51 n, 58/59, 118-123); where its table is broken it
 * follows ISO: 53 is n16 (iso_8583: b of 48 bytes), 64/96/128 are b8 (iso_8583:
 * 4 bytes, its length counts hex digits), 127 is ans..999 LLL (iso_8583: Postilion
 * style sub-fields with a 6-digit length).
 */
import { buildSpec, overrideEach } from './build.js';
import { ISO87_ELEMENTS } from './iso87.js';

export const ascii87 = buildSpec(
  'ascii87',
  ISO87_ELEMENTS,
  {
    mti: 'ascii',
    bitmap: { encoding: 'binary', secondary: 'auto' },
    prefix: 'ascii',
    numeric: 'ascii',
    text: 'ascii',
    binary: 'binary',
  },
  {
    37: { type: 'anp' },
    38: { type: 'anp' },
    40: { type: 'n' },
    49: { type: 'n' },
    51: { type: 'n' },
    58: { type: 'n', lengthType: 'LL', length: 11 },
    59: { length: 255 },
    ...overrideEach([118, 119, 120, 121, 122], { type: 'n' }),
    123: { type: 'an' },
  },
);
