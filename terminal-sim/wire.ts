/**
 * How a terminal talks to a listener: the message spec, the length header and the TPDU.
 * Names as the switch's SWITCH_LISTENERS uses them.
 */
import { ascii87, binary87, type LengthHeader, type MessageSpec } from '../protocol/index.js';

export const SPECS: Readonly<Record<string, MessageSpec>> = { ascii87, binary87 };
export const FRAMINGS: readonly LengthHeader[] = ['binary2', 'bcd2', 'ascii4'];

export interface Wire {
  spec: MessageSpec;
  header: LengthHeader;
  /** 5-byte TPDU sent before each message (60 + destination NII + source NII), when the listener expects one. */
  tpdu?: Buffer;
  maxFrame: number;
}

export const DEFAULT_WIRE: Wire = { spec: ascii87, header: 'binary2', maxFrame: 4096 };

export function specByName(name: string): MessageSpec {
  const s = SPECS[name];
  if (!s) throw new Error(`unknown spec ${JSON.stringify(name)}: one of ${Object.keys(SPECS).join(', ')}`);
  return s;
}

export function framingByName(name: string): LengthHeader {
  if (!(FRAMINGS as readonly string[]).includes(name)) throw new Error(`unknown framing ${JSON.stringify(name)}: one of ${FRAMINGS.join(', ')}`);
  return name as LengthHeader;
}

/** A TPDU from 10 hex digits, e.g. 6000010000. */
export function tpduFromHex(hex: string): Buffer {
  if (!/^[0-9a-fA-F]{10}$/.test(hex)) throw new Error(`TPDU ${JSON.stringify(hex)} is not 10 hex digits (e.g. 6000010000)`);
  return Buffer.from(hex, 'hex');
}
