/**
 * Codec benchmark: our protocol/ codec against the npm package iso_8583 (the only
 * ISO 8583 package on npm), same process, same messages, warm-up first.
 *
 * Messages: a fuel purchase 0200 (fields 2, 3, 4, 7, 11, 12, 13, 14, 22, 25, 35, 41,
 * 42, 48, 49) and its 0210 answer. Decode reads the bytes iso_8583 packed (both sides
 * read the same bytes); encode packs the same field values. Prints ops/s and ratios.
 *
 *   npm run bench:codec            BENCH_SECONDS=2 per measurement (default 1)
 */
import Iso8583 from 'iso_8583';
import { Codec, ascii87, binary87, type IsoMessage } from '../protocol/index.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1);

const purchase: IsoMessage = {
  mti: '0200',
  fields: {
    2: '6280001234567890',
    3: '000000',
    4: '000000015000',
    7: '1127101500',
    11: '000042',
    12: '101500',
    13: '1127',
    14: '2812',
    22: '021',
    25: '00',
    35: '6280001234567890D28121010000000',
    41: 'TPE00001',
    42: 'PS_SENOSOFT    ',
    48: 'SV004FUELPR003001QT00525000UP003600',
    49: '952',
  },
};

const answer: IsoMessage = {
  mti: '0210',
  fields: {
    2: '6280001234567890',
    3: '000000',
    4: '000000015000',
    7: '1127101500',
    11: '000042',
    12: '101500',
    13: '1127',
    37: '733110000042',
    38: '123456',
    39: '00',
    41: 'TPE00001',
    42: 'PS_SENOSOFT    ',
    48: 'MS008APPROVED',
    49: '952',
    54: '0002952C000000985000',
  },
};

type Json = Record<string, string>;
const toJson = (m: IsoMessage): Json => {
  const j: Json = { 0: m.mti };
  for (const [k, v] of Object.entries(m.fields)) j[k] = v as string;
  return j;
};

function measure(fn: () => unknown): number {
  const warm = Date.now() + 300;
  while (Date.now() < warm) for (let i = 0; i < 100; i++) fn();
  let ops = 0;
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(SECONDS * 1e9));
  let now = start;
  while (now < until) {
    for (let i = 0; i < 200; i++) fn();
    ops += 200;
    now = process.hrtime.bigint();
  }
  return ops / (Number(now - start) / 1e9);
}

const ours = new Codec(ascii87);
const oursBinary = new Codec(binary87);
const rows: { message: string; op: string; ours: number; theirs: number; binary87: number }[] = [];

for (const msg of [purchase, answer]) {
  const json = toJson(msg);
  const raw = new Iso8583(json).getRawMessage();
  if (!Buffer.isBuffer(raw)) throw new Error(`iso_8583 cannot pack the ${msg.mti}: ${raw.error}`);
  // Same values both ways, checked before timing anything.
  const back = ours.decode(raw);
  for (const [k, v] of Object.entries(msg.fields)) if (back.fields[Number(k)] !== v) throw new Error(`decode mismatch on ${k}`);
  const theirsBack = new Iso8583().getIsoJSON(raw, { lenHeader: false }) as Json;
  for (const [k, v] of Object.entries(json)) if (theirsBack[k] !== v) throw new Error(`iso_8583 decode mismatch on ${k}`);
  const binaryBytes = oursBinary.encode(msg);

  const decodeOurs = measure(() => ours.decode(raw));
  const decodeTheirs = measure(() => new Iso8583().getIsoJSON(raw, { lenHeader: false }));
  const decodeBinary = measure(() => oursBinary.decode(binaryBytes));
  rows.push({ message: msg.mti, op: 'decode', ours: decodeOurs, theirs: decodeTheirs, binary87: decodeBinary });

  const encodeOurs = measure(() => ours.encode(msg));
  const encodeTheirs = measure(() => new Iso8583(json).getRawMessage());
  const encodeBinary = measure(() => oursBinary.encode(msg));
  rows.push({ message: msg.mti, op: 'encode', ours: encodeOurs, theirs: encodeTheirs, binary87: encodeBinary });
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US').padStart(11);
console.log(`codec benchmark — node ${process.version}, ${SECONDS}s per measurement after 0.3s warm-up`);
console.log('message  op        ascii87 ops/s   iso_8583 ops/s   ratio   binary87 ops/s');
for (const r of rows) {
  console.log(`${r.message}     ${r.op.padEnd(8)} ${fmt(r.ours)}      ${fmt(r.theirs)}   ${(r.ours / r.theirs).toFixed(1).padStart(5)}x   ${fmt(r.binary87)}`);
}
const minRatio = (op: string): number => Math.min(...rows.filter((r) => r.op === op).map((r) => r.ours / r.theirs));
console.log(`\nlowest ratio: decode ${minRatio('decode').toFixed(1)}x, encode ${minRatio('encode').toFixed(1)}x (target: 10x each)`);
if (process.env.BENCH_JSON) console.log(JSON.stringify({ rows, minDecode: minRatio('decode'), minEncode: minRatio('encode') }));
