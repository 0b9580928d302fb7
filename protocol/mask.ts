/**
 * Masking of card data for logs and displays: a PAN shows its first 6 and last 4 digits,
 * track 2 only its masked PAN; PIN blocks, MACs and transaction codes show nothing.
 */

export function maskPan(pan: string): string {
  if (pan.length < 11) return '*'.repeat(pan.length);
  return pan.slice(0, 6) + '*'.repeat(pan.length - 10) + pan.slice(-4);
}

/** Track 2 (PAN=YYMM...): the masked PAN and nothing after the separator. */
export function maskTrack2(track2: string): string {
  const sep = track2.search(/[=D]/);
  return maskPan(sep < 0 ? track2 : track2.slice(0, sep)) + (sep < 0 ? '' : '=****');
}

/** Data elements that never appear in clear outside the message itself. */
export const SECRET_FIELDS: ReadonlySet<number> = new Set([2, 35, 45, 52, 55, 64, 128]);
