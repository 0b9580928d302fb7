/**
 * Builds a MessageSpec from a jPOS GenericPackager XML (the isofield list that
 * describes a jPOS packager field by field), so a deployment that already has a
 * jPOS packager definition can speak the same wire without writing a spec by hand.
 *
 * Supported field classes: IF_CHAR, IFA_/IFB_/IFE_ NUMERIC, LLNUM, LLLNUM, LLCHAR,
 * LLLCHAR, AMOUNT, BINARY (IFA_: hex digits), LLBINARY and LLLBINARY (raw bytes), BITMAP. Numeric fields named TRACK
 * are typed z (jPOS packs '=' of track data as nibble D). jPOS does not check the
 * sign of amounts; imported x+n fields accept C, D and 0.
 */
import type { ContentEncoding, ContentType, FieldSpec, LengthType, MessageSpec, PrefixEncoding } from './types.js';

interface ClassInfo {
  kind: 'num' | 'char' | 'amount' | 'binary' | 'bitmap';
  lengthType: LengthType;
  /** A = ASCII, B = BCD/binary, E = EBCDIC, '' = IF_CHAR */
  family: 'A' | 'B' | 'E' | '';
}

const CLASS_RE = /^IF([ABE]?)_(LLL|LL)?(NUMERIC|NUM|CHAR|AMOUNT|BINARY|BITMAP)$/;

function classInfo(cls: string): ClassInfo {
  const short = cls.slice(cls.lastIndexOf('.') + 1);
  const m = CLASS_RE.exec(short);
  if (!m) throw new Error(`jPOS field class ${cls} is not supported`);
  const [, family, ll, what] = m;
  const kind = what === 'NUMERIC' || what === 'NUM' ? 'num' : (what.toLowerCase() as ClassInfo['kind']);
  return { kind, lengthType: (ll ?? 'fixed') as LengthType, family: family as ClassInfo['family'] };
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/(\w+)\s*=\s*"([^"]*)"/g)) out[m[1]] = m[2];
  return out;
}

/** `overrides` patches fields after import (jPOS checks less than we do; see the conformance tests). */
export function specFromGenericPackager(xml: string, name = 'jpos', overrides: Readonly<Record<number, Partial<FieldSpec>>> = {}): MessageSpec {
  const fields: Record<number, FieldSpec> = {};
  let mti: MessageSpec['mti'] | undefined;
  let bitmap: MessageSpec['bitmap'] | undefined;
  const body = xml.replace(/<!--[\s\S]*?-->/g, '');
  for (const m of body.matchAll(/<isofield\b([^>]*?)\/?>/g)) {
    const a = attrs(m[1]);
    const id = Number(a.id);
    const length = Number(a.length);
    if (!Number.isInteger(id) || !Number.isInteger(length)) throw new Error(`isofield without a numeric id/length: ${m[0]}`);
    const info = classInfo(a.class ?? '');
    const prefix: PrefixEncoding = info.family === 'B' ? 'bcd' : info.family === 'E' ? 'ebcdic' : 'ascii';
    if (id === 0) {
      mti = { encoding: info.family === 'B' ? 'bcd' : info.family === 'E' ? 'ebcdic' : 'ascii' };
      continue;
    }
    if (info.kind === 'bitmap') {
      bitmap = { encoding: info.family === 'A' ? 'hex' : 'binary', secondary: length > 8 ? 'auto' : 'never' };
      continue;
    }
    const fieldName = a.name ?? `Field ${id}`;
    let type: ContentType;
    let encoding: ContentEncoding;
    switch (info.kind) {
      case 'num':
        type = /TRACK/i.test(fieldName) ? 'z' : 'n';
        encoding = info.family === 'B' ? 'bcd' : info.family === 'E' ? 'ebcdic' : 'ascii';
        break;
      case 'amount':
        type = 'x+n';
        encoding = info.family === 'B' ? 'bcd' : 'ascii';
        break;
      case 'binary':
        // IFA_BINARY writes hex digits; IFA_LLBINARY/IFA_LLLBINARY write the bytes as they are.
        type = 'b';
        encoding = info.family === 'A' && info.lengthType === 'fixed' ? 'hex' : 'binary';
        break;
      default:
        type = 'ans';
        encoding = info.family === 'E' ? 'ebcdic' : 'ascii';
    }
    const spec: FieldSpec = {
      name: fieldName,
      type,
      lengthType: info.lengthType,
      length,
      encoding,
      ...(info.lengthType === 'fixed' ? {} : { prefix }),
      ...(type === 'x+n' ? { signs: 'CD0' } : {}),
      ...(encoding === 'bcd' && a.pad !== undefined ? { pad: { side: a.pad === 'true' ? 'left' : 'right' } } : {}),
    } as FieldSpec;
    fields[id] = spec;
  }
  for (const [key, patch] of Object.entries(overrides)) {
    const de = Number(key);
    if (!fields[de]) throw new Error(`override of field ${key}, which the packager does not define`);
    fields[de] = { ...fields[de], ...patch };
  }
  if (!mti) throw new Error('GenericPackager without field 0 (MTI)');
  if (!bitmap) throw new Error('GenericPackager without field 1 (bitmap)');
  return { name, mti, bitmap, fields };
}
