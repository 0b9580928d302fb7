/**
 * The ledger's array parameters in PostgreSQL's binary format (array_send's layout): a batch
 * sends each column of its items as one array, and in text PostgreSQL parsed every element
 * (array_in, then int8in or textin per element: 7% of its CPU in batches of 100), and this
 * side escaped and quoted each one. Binary arrays are read by array_recv, elements copied.
 *
 * Layout: ndim (1, or 0 for an empty array), has-nulls flag, element type OID, then for one
 * dimension its length and lower bound (1); then per element its byte length (-1 for NULL) and
 * its bytes: int8 and int4 big-endian, text as UTF-8. node-pg sends a Buffer parameter as
 * binary (format code 1); the statement's cast ($1::bigint[]) gives its type.
 */

export type ElementType = 'bigint' | 'int' | 'text';
/** The types a row's attribute may have (./sql.ts ROW_TYPES): an array's, and dates. */
export type AttributeType = ElementType | 'date';

const OID: Readonly<Record<AttributeType, number>> = { bigint: 20, int: 23, text: 25, date: 1082 };
const DAY_MS = 86_400_000;
const EPOCH_2000_MS = Date.UTC(2000, 0, 1);
const ISO_DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A 'YYYY-MM-DD' day as PostgreSQL's binary date: days since 2000-01-01. */
function dateDays(v: unknown): number {
  const m = typeof v === 'string' ? ISO_DAY.exec(v) : null;
  if (m === null) throw new RangeError(`ledger: ${String(v)} is not a YYYY-MM-DD day`);
  return (Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) - EPOCH_2000_MS) / DAY_MS;
}
const TWO_32 = 4294967296;

function checkNumber(v: unknown, type: 'bigint' | 'int'): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RangeError(`ledger: ${String(v)} is not a safe integer`);
  if (type === 'int' && (v < -2147483648 || v > 2147483647)) throw new RangeError(`ledger: ${v} does not fit an int`);
  return v;
}

/** The length of `s` if it is all ASCII (then its UTF-8 bytes are its char codes), else undefined. */
function asciiLength(s: string): number | undefined {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return undefined;
  return s.length;
}

/** The bytes of a value of `type` after its length word (0 for NULL). */
function payloadSize(v: unknown, type: AttributeType): number {
  if (v === null || v === undefined) return 0;
  if (type === 'text') {
    const s = String(v);
    return asciiLength(s) ?? Buffer.byteLength(s, 'utf8');
  }
  return type === 'bigint' ? 8 : 4; // int and date: four bytes
}

/** Writes a value as a binary array element or record attribute: its byte length (-1 for NULL), then its bytes; returns where the next one starts. */
function putValue(out: Buffer, at: number, v: unknown, type: AttributeType): number {
  if (v === null || v === undefined) {
    put32(out, at, -1);
    return at + 4;
  }
  if (type === 'text') {
    const s = String(v);
    // ASCII (ids, STANs, codes in hex: nearly every value) byte by byte: a write() per value
    // crosses into C++ for a few bytes
    let len = asciiLength(s);
    if (len === undefined) len = out.write(s, at + 4, 'utf8');
    else for (let k = 0; k < len; k++) out[at + 4 + k] = s.charCodeAt(k);
    put32(out, at, len);
    return at + 4 + len;
  }
  if (type === 'bigint') {
    const x = checkNumber(v, type);
    const hi = Math.floor(x / TWO_32);
    put32(out, at, 8);
    put32(out, at + 4, hi);
    put32(out, at + 8, x - hi * TWO_32);
    return at + 12;
  }
  put32(out, at, 4);
  put32(out, at + 4, type === 'date' ? dateDays(v) : checkNumber(v, type));
  return at + 8;
}

/** The array header: one dimension of `n` elements from 1 (or none, when empty). */
function putHeader(out: Buffer, n: number, hasNull: number, elementOid: number): void {
  put32(out, 0, n === 0 ? 0 : 1);
  put32(out, 4, hasNull);
  put32(out, 8, elementOid);
  if (n === 0) return;
  put32(out, 12, n);
  put32(out, 16, 1);
}

/** A one-dimensional array of `type` from `values` (null and undefined are NULL). */
export function binaryArray(values: readonly unknown[], type: ElementType): Buffer {
  const n = values.length;
  let hasNull = 0;
  let size = n === 0 ? 12 : 20;
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (v === null || v === undefined) hasNull = 1;
    size += 4 + payloadSize(v, type);
  }
  const out = Buffer.allocUnsafe(size);
  putHeader(out, n, hasNull, OID[type]);
  let at = 20;
  for (let i = 0; i < n; i++) at = putValue(out, at, values[i], type);
  return out;
}

/**
 * A one-dimensional array of a composite type (`typeOid`, looked up in the schema) whose
 * attributes have `types`, from `rows` (one value per attribute; null and undefined are NULL):
 * array_send's layout, each element as record_send writes a row: the attribute count, then per
 * attribute its type OID, its byte length (-1 for NULL) and its bytes. PostgreSQL reads it with
 * one unnest, where one array per column took a function (and a tuplestore) per column.
 */
export function binaryRecordArray(rows: readonly (readonly unknown[])[], types: readonly AttributeType[], typeOid: number): Buffer {
  const n = rows.length;
  const width = types.length;
  let size = n === 0 ? 12 : 20;
  for (let r = 0; r < n; r++) {
    const row = rows[r];
    if (row.length !== width) throw new RangeError(`ledger: a row of ${row.length} values for ${width} attributes`);
    size += 8; // the element's length, the attribute count
    for (let c = 0; c < width; c++) size += 8 + payloadSize(row[c], types[c]); // OID, length, bytes
  }
  const out = Buffer.allocUnsafe(size);
  putHeader(out, n, 0, typeOid);
  let at = 20;
  for (let r = 0; r < n; r++) {
    const row = rows[r];
    const start = at;
    put32(out, at + 4, width);
    at += 8;
    for (let c = 0; c < width; c++) {
      put32(out, at, OID[types[c]]);
      at = putValue(out, at + 4, row[c], types[c]);
    }
    put32(out, start, at - start - 4);
  }
  return out;
}

/** Four bytes, big-endian, of a 32-bit value (signed or not: the same bytes), without Buffer's range checks. */
function put32(b: Buffer, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** A non-null value written by putValue, by its type's OID. */
function readValue(b: Buffer, at: number, len: number, oid: number): number | string {
  if (oid === OID.text) return b.toString('utf8', at, at + len);
  if (oid === OID.int) return b.readInt32BE(at);
  if (oid === OID.date) return new Date(EPOCH_2000_MS + b.readInt32BE(at) * DAY_MS).toISOString().slice(0, 10);
  return b.readInt32BE(at) * TWO_32 + b.readUInt32BE(at + 4);
}

/** The elements of a binary array made by binaryArray (for clients that take parameters as text, and tests). */
export function arrayElements(b: Buffer): (number | string | null)[] {
  const ndim = b.readInt32BE(0);
  const oid = b.readInt32BE(8);
  if (ndim === 0) return [];
  const n = b.readInt32BE(12);
  const out: (number | string | null)[] = [];
  let at = 20;
  for (let i = 0; i < n; i++) {
    const len = b.readInt32BE(at);
    at += 4;
    if (len < 0) {
      out.push(null);
      continue;
    }
    out.push(readValue(b, at, len, oid));
    at += len;
  }
  return out;
}

/** The rows of a binary record array made by binaryRecordArray, each attribute by its OID (for clients that take parameters as text, and tests). */
export function recordElements(b: Buffer): (number | string | null)[][] {
  if (b.readInt32BE(0) === 0) return [];
  const n = b.readInt32BE(12);
  const out: (number | string | null)[][] = [];
  let at = 20;
  for (let r = 0; r < n; r++) {
    at += 4; // the element's length
    const width = b.readInt32BE(at);
    at += 4;
    const row: (number | string | null)[] = [];
    for (let c = 0; c < width; c++) {
      const oid = b.readInt32BE(at);
      const len = b.readInt32BE(at + 4);
      at += 8;
      if (len < 0) {
        row.push(null);
        continue;
      }
      row.push(readValue(b, at, len, oid));
      at += len;
    }
    out.push(row);
  }
  return out;
}

/** Whether a binary parameter made here is a record array (its element type is none of the scalar ones). */
export function isRecordArray(b: Buffer): boolean {
  const oid = b.readInt32BE(8);
  return oid !== OID.bigint && oid !== OID.int && oid !== OID.text;
}
