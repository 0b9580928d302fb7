/**
 * DE90 original data elements (n42): the message a reversal or completion refers to.
 * MTI (4), STAN (6), transmission date-time DE7 (10), acquirer id (11), forwarder id (11).
 */
import { DecodeError, EncodeError } from '../errors.js';

export interface OriginalData {
  mti: string;
  stan: string;
  transmissionDateTime: string;
  acquirer: string;
  forwarder: string;
}

export function parseDe90(data: string): OriginalData {
  if (!/^[0-9]{42}$/.test(data)) throw new DecodeError(90, 0, 'original data elements must be 42 digits');
  return {
    mti: data.slice(0, 4),
    stan: data.slice(4, 10),
    transmissionDateTime: data.slice(10, 20),
    acquirer: data.slice(20, 31),
    forwarder: data.slice(31, 42),
  };
}

export function buildDe90(o: Partial<OriginalData> & Pick<OriginalData, 'mti' | 'stan' | 'transmissionDateTime'>): string {
  const part = (v: string | undefined, n: number, what: string): string => {
    const s = v ?? '';
    if (!/^[0-9]*$/.test(s) || s.length > n) throw new EncodeError(90, `${what} must be up to ${n} digits`);
    return s.padStart(n, '0');
  };
  if (!/^[0-9]{4}$/.test(o.mti)) throw new EncodeError(90, 'MTI must be 4 digits');
  return o.mti + part(o.stan, 6, 'STAN') + part(o.transmissionDateTime, 10, 'DE7') + part(o.acquirer, 11, 'acquirer') + part(o.forwarder, 11, 'forwarder');
}
