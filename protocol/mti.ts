/**
 * Message type indicator helpers. An MTI is 4 digits: version, class, function, origin.
 *   class:    1 authorization, 2 financial, 3 file action, 4 reversal, 5 reconciliation, 6 administrative, 8 network
 *   function: 0 request, 1 request response, 2 advice, 3 advice response, 4 notification
 *   origin:   0 acquirer, 1 acquirer repeat, 2 issuer, 3 issuer repeat, 4 other, 5 other repeat
 */

export const MTI_CLASS = {
  authorization: '1',
  financial: '2',
  fileAction: '3',
  reversal: '4',
  reconciliation: '5',
  administrative: '6',
  network: '8',
} as const;

export function isMti(s: unknown): s is string {
  return typeof s === 'string' && /^[0-9]{4}$/.test(s);
}

function check(mti: string): void {
  if (!isMti(mti)) throw new TypeError(`not an MTI: ${JSON.stringify(mti)}`);
}

export function mtiClass(mti: string): string {
  check(mti);
  return mti[1];
}

/** Request (x0) or advice (x2): something that expects an answer. */
export function expectsResponse(mti: string): boolean {
  check(mti);
  return mti[2] === '0' || mti[2] === '2';
}

export function isResponse(mti: string): boolean {
  check(mti);
  return mti[2] === '1' || mti[2] === '3';
}

export function isAdvice(mti: string): boolean {
  check(mti);
  return mti[2] === '2';
}

/** Repeat (retransmission) of a message already sent: origin 1, 3 or 5. */
export function isRepeat(mti: string): boolean {
  check(mti);
  return mti[3] === '1' || mti[3] === '3' || mti[3] === '5';
}

/** The MTI of the message a repeat repeats: 0201 -> 0200. Unchanged for a non-repeat. */
export function originalOf(mti: string): string {
  return isRepeat(mti) ? mti.slice(0, 3) + String(Number(mti[3]) - 1) : mti;
}

/** The repeat variant of a message: 0200 -> 0201. */
export function repeatOf(mti: string): string {
  if (isRepeat(mti)) return mti;
  if (!expectsResponse(mti)) throw new TypeError(`${mti} is not a request or advice`);
  return mti.slice(0, 3) + String(Number(mti[3]) + 1);
}

/** The MTI that answers a request or advice, repeats answered as their original: 0200/0201 -> 0210, 0220/0221 -> 0230. */
export function responseMti(mti: string): string {
  if (!expectsResponse(mti)) throw new TypeError(`${mti} is not a request or advice`);
  const o = originalOf(mti);
  return o.slice(0, 2) + String(Number(o[2]) + 1) + o[3];
}
