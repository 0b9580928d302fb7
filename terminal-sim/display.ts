/**
 * Messages for people: a table of fields (number, name from the spec, value) with card data
 * masked. The PAN shows its first 6 and last 4 digits; track 2, PIN block, MACs and other
 * secrets are never shown; nor are the secret DE48 tags (SECRET_DE48_TAGS: the transaction
 * code, the security PIN, a PIN block, wrapped keys).
 */
import { maskPan, parseDe48, parseDe54, parseDe90, responseName, SECRET_DE48_TAGS, SECRET_FIELDS, type IsoMessage, type MessageSpec } from '../protocol/index.js';
const HIDDEN = '(hidden)';

/** The value of one field as text safe to print, with a reading of the structured ones. */
export function showField(de: number, value: unknown): string {
  if (de === 2 && typeof value === 'string') return maskPan(value);
  if (SECRET_FIELDS.has(de)) return HIDDEN;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex').toUpperCase();
  if (typeof value !== 'string') return JSON.stringify(value);
  try {
    switch (de) {
      case 39: {
        const name = responseName(value);
        return name ? `${value} (${name})` : value;
      }
      case 42:
        return JSON.stringify(value);
      case 48: {
        const tags = parseDe48(value);
        return Object.entries(tags)
          .map(([tag, v]) => `${tag}=${SECRET_DE48_TAGS.has(tag) ? '****' : v}`)
          .join(' ');
      }
      case 54:
        return parseDe54(value)
          .map((b) => `${b.amountType === '02' ? 'available' : `type ${b.amountType}`} ${b.amount} (currency ${b.currency})`)
          .join('; ');
      case 90: {
        const o = parseDe90(value);
        return `MTI ${o.mti} STAN ${o.stan} DE7 ${o.transmissionDateTime}`;
      }
      default:
        return value;
    }
  } catch {
    return de === 48 ? HIDDEN : value; // DE48 that does not parse may hold anything: not shown
  }
}

/** The fields of a message for machines (--json): secrets left out, PAN masked, DE48's secret tags hidden, the rest as on the wire. */
export function safeFields(msg: IsoMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(msg.fields)) {
    const de = Number(key);
    const v = msg.fields[de];
    if (v === undefined || (SECRET_FIELDS.has(de) && de !== 2)) continue;
    if (de === 2 || de === 48 || typeof v !== 'string') out[key] = showField(de, v);
    else out[key] = v;
  }
  return out;
}

/** A table: MTI line, then one line per field. */
export function fieldTable(msg: IsoMessage, spec: MessageSpec, title?: string): string {
  const lines: string[] = [];
  if (title) lines.push(title);
  lines.push(`  MTI  ${msg.mti}`);
  const rows: [string, string, string][] = [];
  for (const key of Object.keys(msg.fields)) {
    const de = Number(key);
    const v = msg.fields[de];
    if (v === undefined) continue;
    rows.push([String(de).padStart(3, ' '), spec.fields[de]?.name ?? `Field ${de}`, showField(de, v)]);
  }
  const w = Math.max(0, ...rows.map((r) => r[1].length));
  for (const [n, name, value] of rows) lines.push(`  ${n}  ${name.padEnd(w)}  ${value}`);
  return lines.join('\n');
}
