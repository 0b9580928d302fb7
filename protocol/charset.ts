/**
 * Character sets of the content types, as 256-entry lookup tables (1 =
 * allowed), and the EBCDIC (IBM-1047) translation of printable ASCII.
 */
import type { ContentType } from './types.js';

function table(pred: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = pred(c) ? 1 : 0;
  return t;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isPrintable = (c: number): boolean => (c >= 0x20 && c <= 0x7e) || c >= 0xa0;

/** Allowed bytes of each text content type (b has none: it is not text). */
export const CHARSETS: Readonly<Record<Exclude<ContentType, 'b'>, Uint8Array>> = {
  n: table(isDigit),
  a: table(isAlpha),
  an: table((c) => isDigit(c) || isAlpha(c)),
  anp: table((c) => isDigit(c) || isAlpha(c) || c === 0x20),
  ans: table(isPrintable),
  ns: table((c) => isPrintable(c) && !isAlpha(c)),
  // Track 2/3 code set 0x30-0x3F ('0'-'9', ':', ';', '<', '=', '>', '?') and 'D' as separator.
  z: table((c) => (c >= 0x30 && c <= 0x3f) || c === 0x44),
  // x+n digits (the sign is checked on its own).
  'x+n': table(isDigit),
};

export const HEX_VALUE: Int8Array = (() => {
  const t = new Int8Array(256).fill(-1);
  for (let i = 0; i < 10; i++) t[0x30 + i] = i;
  for (let i = 0; i < 6; i++) {
    t[0x41 + i] = 10 + i;
    t[0x61 + i] = 10 + i;
  }
  return t;
})();

export const HEX_DIGITS = '0123456789ABCDEF';

/** IBM-1047 code points of ASCII 0x20-0x7E, in order. */
const EBCDIC_1047_PRINTABLE = [
  0x40, 0x5a, 0x7f, 0x7b, 0x5b, 0x6c, 0x50, 0x7d, 0x4d, 0x5d, 0x5c, 0x4e, 0x6b, 0x60, 0x4b, 0x61, // sp ! " # $ % & ' ( ) * + , - . /
  0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8, 0xf9, 0x7a, 0x5e, 0x4c, 0x7e, 0x6e, 0x6f, // 0-9 : ; < = > ?
  0x7c, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, // @ A-O
  0xd7, 0xd8, 0xd9, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xad, 0xe0, 0xbd, 0x5f, 0x6d, // P-Z [ \ ] ^ _
  0x79, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, // ` a-o
  0x97, 0x98, 0x99, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xc0, 0x4f, 0xd0, 0xa1, //       p-z { | } ~
];

/** ASCII -> EBCDIC; 0 where the character has no mapping here. */
export const ASCII_TO_EBCDIC: Uint8Array = (() => {
  const t = new Uint8Array(256);
  EBCDIC_1047_PRINTABLE.forEach((e, i) => (t[0x20 + i] = e));
  return t;
})();

/** EBCDIC -> ASCII; 0 where the byte has no printable-ASCII mapping. */
export const EBCDIC_TO_ASCII: Uint8Array = (() => {
  const t = new Uint8Array(256);
  EBCDIC_1047_PRINTABLE.forEach((e, i) => (t[e] = 0x20 + i));
  return t;
})();
