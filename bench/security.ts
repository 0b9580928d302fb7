/**
 * What a terminal's proofs cost per message, in one process on one core: the MAC (retail MAC
 * under a double-length 3DES key, ISO 9797-1 algorithm 3; AES-CMAC under an AES key) over a
 * fuel purchase as the load sends it, signed by the firmware and verified by the switch; and
 * the cardholder PIN, enciphered by the firmware (format 0 under the 3DES PIN key) and read
 * back by the switch to the digest its ledger compares (db/secrets.ts cardPinDigest). `make
 * bench` and the CI check print these beside the end-to-end costs they are part of.
 *
 *   node dist/bench/security.js        BENCH_SECURITY_MS per figure (default 300)
 */
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Codec, ascii87, type IsoMessage } from '../protocol/index.js';
import { decryptPinBlock0, encryptPinBlock0, generateKey, messageMac, verifyPackedMessage, type MessageMacAlgorithm } from '../protocol/security/index.js';
import { cardPinDigest } from '../db/secrets.js';

export interface SecurityCosts {
  /** µs per message: the firmware's MAC, and the switch's check of it (3DES retail MAC). */
  macSignUs: number;
  macVerifyUs: number;
  /** The same under an AES key (AES-CMAC). */
  cmacSignUs: number;
  cmacVerifyUs: number;
  /** µs per message: the firmware's PIN block, and the switch's reading of it to the card's digest. */
  pinBlockUs: number;
  pinReadUs: number;
  /** Bytes the MAC covers (the purchase as packed, up to DE64). */
  macedBytes: number;
}

const PAN = '6280001234567890';

const purchase: IsoMessage = {
  mti: '0200',
  fields: {
    2: PAN,
    3: '000000',
    4: '000000015000',
    7: '1127101500',
    11: '000042',
    12: '101500',
    13: '1127',
    14: '2812',
    22: '901',
    25: '00',
    35: '6280001234567890D28121010000000',
    41: 'TPE00001',
    42: 'PS_SENOSOFT    ',
    48: 'SV004FUEL',
    49: '952',
    52: Buffer.alloc(8),
    64: Buffer.alloc(8),
  },
};

/** µs per call of `fn`, over about `ms` milliseconds after a warm-up. */
function perCall(fn: () => unknown, ms: number): number {
  for (let i = 0; i < 2_000; i++) fn();
  let n = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < 200; i++) fn();
    n += 200;
    t = performance.now();
  }
  return ((t - t0) * 1000) / n;
}

export function measureSecurity(ms = 300): SecurityCosts {
  const codec = new Codec(ascii87);
  const packed = codec.encode(purchase);
  const body = packed.subarray(0, packed.length - 8);
  const costs = (algorithm: MessageMacAlgorithm): { sign: number; verify: number } => {
    const key = generateKey(algorithm === 'retail-mac' ? 'tdes' : 'aes', 16);
    const signed = Buffer.from(packed);
    messageMac(algorithm, key, body).copy(signed, signed.length - 8);
    if (verifyPackedMessage(ascii87, signed, algorithm, key) !== 'ok') throw new Error(`${algorithm}: the signed message does not verify`);
    return { sign: perCall(() => messageMac(algorithm, key, body), ms), verify: perCall(() => verifyPackedMessage(ascii87, signed, algorithm, key), ms) };
  };
  const retail = costs('retail-mac');
  const cmac = costs('aes-cmac');
  const pinKey = generateKey('tdes', 16);
  const block = encryptPinBlock0(pinKey, '4821', PAN);
  return {
    macSignUs: retail.sign,
    macVerifyUs: retail.verify,
    cmacSignUs: cmac.sign,
    cmacVerifyUs: cmac.verify,
    pinBlockUs: perCall(() => encryptPinBlock0(pinKey, '4821', PAN), ms),
    pinReadUs: perCall(() => cardPinDigest('bench-hash-secret', 42, decryptPinBlock0(pinKey, block, PAN)), ms),
    macedBytes: body.length,
  };
}

export function describeSecurity(c: SecurityCosts): string {
  const f = (x: number): string => x.toFixed(1);
  return (
    `MAC over a ${c.macedBytes}-byte purchase: retail MAC sign ${f(c.macSignUs)} µs, verify ${f(c.macVerifyUs)} µs; AES-CMAC sign ${f(c.cmacSignUs)} µs, verify ${f(c.cmacVerifyUs)} µs; ` +
    `PIN block ${f(c.pinBlockUs)} µs, read to its digest ${f(c.pinReadUs)} µs (per message, one core)`
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(describeSecurity(measureSecurity(Number(process.env.BENCH_SECURITY_MS ?? 300))) + '\n');
}
