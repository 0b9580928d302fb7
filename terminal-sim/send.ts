/**
 * `terminal-sim send`: one message built from flags, sent over one connection; the request
 * and the decoded answer printed as field tables (PAN masked, secrets hidden). A message other
 * than an 0800 follows a sign-on of its terminal on the same connection, as a terminal's
 * firmware does: the switch accepts a terminal's transactions only on such a connection.
 * When the fleet file holds the terminal's working keys, every message after the sign-on is
 * MACed under its MAC key, and a card payment or inquiry carries the cardholder's PIN (the
 * fleet's, or --card-pin) enciphered under its PIN key, as the firmware would.
 */
import { randomInt } from 'node:crypto';
import { buildDe48, type IsoFields, type IsoMessage } from '../protocol/index.js';
import { CONNECTION_HELP, CONNECTION_OPTIONS, EXIT, UsageError, duration, int, parse, target } from './args.js';
import { describeCode } from './codes.js';
import { HostConnection } from './connection.js';
import { fieldTable, safeFields } from './display.js';
import { keepKeys, type Fleet } from './fleet.js';
import { KeyDeliveryError, Keyring, putCardholderPin, type WorkingKeySet } from './keys.js';
import { amountField, build, cardFields, originalField, reconciliationFields, type MessageKind } from './messages.js';
import { formatStan } from './stan.js';

export const SEND_HELP = `terminal-sim send: send one message and print the answer

Usage: terminal-sim send [options]

Message:
  --mti MTI                0200 (default), 0201, 0100, 0220, 0221, 0120, 0400, 0401, 0420, 0500, 0800
  --pan PAN                card number (DE2); default: the fleet's first card
  --expiry YYMM            the card's expiry, sent in DE14 and track 2 (DE35, with entry
                           mode 901, swiped); default: the fleet's, for a card it lists;
                           without one the message carries no expiry (the switch answers 30)
  --code CODE              pay with a transaction code instead of a card (DE48 TC, entry mode 012)
  --amount N               DE4 in minor units (XOF has no decimals)
  --processing-code DE3    default 000000 for 01xx/02xx; 310000 is a balance inquiry
  --service SV             FUEL (default), DOTATION, TICKET
  --terminal ID            DE41; default: the fleet's first terminal
  --service-point CODE     DE42; default: that terminal's service point in the fleet
  --pin PIN                the sign-on carries the terminal's security PIN (DE48 SP): with
                           --mti 0800, that message; otherwise the sign-on sent before it
  --card-pin PIN           the cardholder's PIN, sent in DE52 under the terminal's PIN key
                           (default: the fleet's, for a card it lists with one); needs the
                           terminal's working keys in the fleet file, which also MAC the message
  --no-sign-on             send the message alone, without the sign-on before it (the
                           switch then refuses it: 58)
  --network-code NNN       0800 DE70: 001 sign-on, 002 sign-off, 301 echo (default 001 with --pin, else 301)
  --original-mti MTI       DE90 of a reversal or completion: the original's MTI
                           (default 0200 for 04xx, 0100 for 0120/0220)
  --original-stan STAN     ... its STAN
  --original-dt MMDDhhmmss ... its transmission date and time (DE7)
  --stan STAN              DE11 (default: random)
  --debits N --debits-amount N --reversals N --reversals-amount N
                           0500 batch totals (default 0)
  --field DE=VALUE         any other field, repeatable (e.g. --field 22=012)
  --json                   print {request, response} as JSON instead of tables

${CONNECTION_HELP} (default 5000 ms)

Exit codes: 0 the answer is 00; 1 answered with another code; 2 no answer or no connection;
64 bad flags.

Example:
  terminal-sim send --port 8583 --terminal TPE00001 --service-point PS_SENOSOFT --pan 6280001234567890 --expiry 2912 --amount 5000
`;

const OPTIONS = {
  ...CONNECTION_OPTIONS,
  mti: { type: 'string' },
  pan: { type: 'string' },
  expiry: { type: 'string' },
  code: { type: 'string' },
  amount: { type: 'string' },
  'processing-code': { type: 'string' },
  service: { type: 'string' },
  terminal: { type: 'string' },
  'service-point': { type: 'string' },
  pin: { type: 'string' },
  'card-pin': { type: 'string' },
  'no-sign-on': { type: 'boolean' },
  'network-code': { type: 'string' },
  'original-mti': { type: 'string' },
  'original-stan': { type: 'string' },
  'original-dt': { type: 'string' },
  stan: { type: 'string' },
  debits: { type: 'string' },
  'debits-amount': { type: 'string' },
  reversals: { type: 'string' },
  'reversals-amount': { type: 'string' },
  field: { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

const KIND_BY_MTI: Readonly<Record<string, MessageKind>> = {
  '080': 'echo',
  '010': 'preauth',
  '020': 'purchase',
  '012': 'completion',
  '022': 'completion',
  '040': 'reversal',
  '042': 'reversal',
  '050': 'reconciliation',
};

export async function send(argv: string[], out: (s: string) => void): Promise<number> {
  const { values: v } = parse(argv, OPTIONS);
  if (v.help) {
    out(SEND_HELP);
    return EXIT.ok;
  }
  const tg = target(v);
  const timeoutMs = v.timeout === undefined ? 5000 : duration(v.timeout, 'timeout');
  const msg = buildMessage(v, tg.fleet);
  if (v.pin !== undefined && !/^[0-9]{4}$/.test(v.pin)) throw new UsageError('--pin is 4 digits');
  const keyring = firmwareKeys(tg.fleet, String(msg.fields[41]));
  const pinLater = keyring.working === undefined && keyring.master !== undefined; // keys may come with the sign-on
  if (!pinLater) addCardholderPin(msg, v['card-pin'], tg.fleet, keyring.working);
  let conn: HostConnection;
  try {
    conn = await HostConnection.connect(tg.host, tg.port, tg.wire);
  } catch (e) {
    console.error(`terminal-sim send: ${(e as Error).message}`);
    return EXIT.unreachable;
  }
  conn.macKeys = () => keyring.working;
  const signOn = msg.mti.slice(1, 3) === '80' || v['no-sign-on'] === true ? undefined : signOnMessage(msg, v.pin);
  let signOnCode: string | undefined;
  const t0 = process.hrtime.bigint();
  let answer: IsoMessage | undefined;
  try {
    if (signOn) {
      const r = await conn.request(signOn, timeoutMs);
      signOnCode = r === undefined ? undefined : String(r.fields[39] ?? '');
      if (r !== undefined && signOnCode === '00' && installKeys(keyring, r)) {
        // the initialising sign-on brought the working keys: kept in the fleet file, as a firmware keeps them
        if (typeof v.fleet === 'string') keepKeys(v.fleet, [{ id: String(msg.fields[41]), mac: hex(keyring.working?.mac), pin: hex(keyring.working?.pin), changed: true }]);
      }
    }
    if (pinLater) addCardholderPin(msg, v['card-pin'], tg.fleet, keyring.working);
    // refused or unanswered, the message still goes: its answer says what the switch made of it
    answer = await conn.request(msg, timeoutMs);
  } finally {
    await conn.close();
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const code = answer === undefined ? undefined : String(answer.fields[39] ?? '');
  if (v.json) {
    out(JSON.stringify({ signOn: signOn ? { code: signOnCode ?? null } : undefined, request: { mti: msg.mti, fields: safeFields(msg) }, response: answer && { mti: answer.mti, fields: safeFields(answer) }, code: code ?? null, latencyMs: Math.round(ms * 1000) / 1000 }, null, 2));
  } else {
    if (signOn) out(`sign-on of ${String(signOn.fields[41])} on this connection: ${signOnCode === undefined ? `no answer within ${timeoutMs} ms` : describeCode(signOnCode)}`);
    out(fieldTable(msg, tg.wire.spec, `-> request to ${tg.host}:${tg.port} (${tg.wire.header}${tg.wire.tpdu ? '+tpdu' : ''}, ${tg.wire.spec.name})`));
    if (answer) out(fieldTable(answer, tg.wire.spec, `<- answer in ${ms.toFixed(1)} ms`));
    out(`result: ${answer ? describeCode(code) : `no answer within ${timeoutMs} ms`}`);
  }
  if (answer === undefined) return EXIT.unreachable;
  return code === '00' ? EXIT.ok : EXIT.failed;
}

/** The keys the fleet file holds for the terminal (its firmware's memory): master and working keys, if any. */
function firmwareKeys(fleet: Fleet | undefined, terminalId: string): Keyring {
  const t = fleet?.terminals.find((x) => x.id === terminalId);
  const keyring = new Keyring(t?.masterKey ? { algorithm: t.masterKey.algorithm, key: Buffer.from(t.masterKey.key, 'hex') } : undefined);
  if (t?.keys) keyring.working = { algorithm: t.masterKey?.algorithm ?? 'tdes', mac: Buffer.from(t.keys.mac, 'hex'), pin: Buffer.from(t.keys.pin, 'hex') };
  return keyring;
}

/** Installs the working keys an 0810 carries; a delivery that does not unwrap is said and dropped. */
function installKeys(keyring: Keyring, answer: IsoMessage): boolean {
  try {
    return keyring.install(answer);
  } catch (e) {
    if (!(e instanceof KeyDeliveryError)) throw e;
    console.error(`terminal-sim send: ${e.message}`);
    return false;
  }
}

const hex = (b: Buffer | undefined): string => (b ?? Buffer.alloc(0)).toString('hex').toUpperCase();

/** The cardholder's PIN of a card payment or inquiry: DE52 (3DES keys) or DE48 PB (AES keys), keys.ts putCardholderPin. */
function addCardholderPin(msg: IsoMessage, flag: string | undefined, fleet: Fleet | undefined, keys: WorkingKeySet | undefined): void {
  const pan = msg.fields[2];
  if (flag !== undefined && !/^[0-9]{4,12}$/.test(flag)) throw new UsageError('--card-pin is 4 to 12 digits');
  if (typeof pan !== 'string') {
    if (flag !== undefined) throw new UsageError('--card-pin goes with a card (--pan)');
    return;
  }
  const pin = flag ?? fleet?.cards.find((c) => c.pan === pan)?.pin;
  if (pin === undefined) return;
  if (keys === undefined) {
    if (flag !== undefined) throw new UsageError("--card-pin needs the terminal's working keys (a fleet file that holds them)");
    return;
  }
  putCardholderPin(msg.fields, keys, pin, pan);
}

/** The 0800 sign-on (DE70 001) of `msg`'s terminal, sent first on its connection. */
function signOnMessage(msg: IsoMessage, pin: string | undefined): IsoMessage {
  const stan = formatStan((Number(msg.fields[11]) % 999_999) + 1); // the STAN after the message's
  return build('signOn', { terminalId: String(msg.fields[41]), servicePoint: '', stan, at: new Date() }, pin === undefined ? {} : { 48: buildDe48({ SP: pin }) });
}

type SendValues = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K] extends { type: 'boolean' } ? boolean : string };

function buildMessage(v: SendValues, fleet: Fleet | undefined): IsoMessage {
  const mti = v.mti ?? '0200';
  if (!/^[0-9]{4}$/.test(mti)) throw new UsageError(`--mti ${JSON.stringify(mti)} is not 4 digits`);
  const kind = KIND_BY_MTI[mti.slice(0, 3)];
  if (kind === undefined) throw new UsageError(`--mti ${mti}: a terminal sends 0100, 0120, 0200, 0220, 0400, 0420, 0500 or 0800 (and their repeats)`);
  const terminalId = v.terminal ?? fleet?.terminals[0]?.id;
  if (terminalId === undefined) throw new UsageError('--terminal is needed (or a --fleet file)');
  if (!/^[A-Za-z0-9]{8}$/.test(terminalId)) throw new UsageError(`--terminal ${JSON.stringify(terminalId)} is not 8 letters or digits`);
  const servicePoint = v['service-point'] ?? fleet?.terminals.find((t) => t.id === terminalId)?.servicePoint;
  if (servicePoint === undefined && kind !== 'echo' && kind !== 'reconciliation') throw new UsageError('--service-point is needed (or a --fleet file that lists the terminal)');
  const stan = v.stan === undefined ? formatStan(randomInt(1, 1_000_000)) : formatStan(int(v.stan, 'stan', 1, 999_999));
  const f: IsoFields = {};
  const needsCard = kind === 'purchase' || kind === 'preauth';
  if (needsCard) {
    f[3] = v['processing-code'] ?? '000000';
    if (v.code !== undefined) {
      if (!/^[0-9]{4,16}$/.test(v.code)) throw new UsageError('--code is 4 to 16 digits');
      f[22] = '012';
    } else {
      const pan = v.pan ?? fleet?.cards[0]?.pan;
      if (pan === undefined) throw new UsageError('--pan or --code is needed (or a --fleet file with cards)');
      if (!/^[0-9]{12,19}$/.test(pan)) throw new UsageError('--pan is 12 to 19 digits');
      const expiry = v.expiry ?? fleet?.cards.find((c) => c.pan === pan)?.expiry;
      if (expiry !== undefined && !/^[0-9]{2}(0[1-9]|1[0-2])$/.test(expiry)) throw new UsageError('--expiry is YYMM');
      cardFields(pan, expiry, f);
    }
    f[48] = buildDe48({ SV: v.service ?? 'FUEL', TC: v.code });
  } else if (v['processing-code'] !== undefined) {
    f[3] = v['processing-code'];
  }
  if (v.amount !== undefined) f[4] = amountField(int(v.amount, 'amount', 0, 999_999_999_999));
  else if (needsCard && !String(f[3]).startsWith('31')) throw new UsageError('--amount is needed for a purchase or pre-authorization');
  if (kind === 'completion' || kind === 'reversal') {
    if (v['original-stan'] === undefined || v['original-dt'] === undefined) throw new UsageError(`--original-stan and --original-dt are needed for ${mti} (DE90)`);
    if (!/^[0-9]{10}$/.test(v['original-dt'])) throw new UsageError('--original-dt is MMDDhhmmss');
    const omti = v['original-mti'] ?? (kind === 'completion' ? '0100' : '0200');
    f[90] = originalField({ mti: omti, stan: formatStan(int(v['original-stan'], 'original-stan', 1, 999_999)), transmissionDateTime: v['original-dt'] });
    if (kind === 'completion' && f[4] === undefined) throw new UsageError('--amount (the final amount) is needed for a completion');
    f[3] ??= '000000';
  }
  if (kind === 'echo') {
    const nmc = v['network-code'] ?? (v.pin !== undefined ? '001' : '301');
    if (!['001', '002', '301'].includes(nmc)) throw new UsageError('--network-code is 001, 002 or 301');
    f[70] = nmc;
    if (v.pin !== undefined) {
      if (!/^[0-9]{4}$/.test(v.pin)) throw new UsageError('--pin is 4 digits');
      f[48] = buildDe48({ SP: v.pin });
    }
  }
  if (kind === 'reconciliation') {
    const n = (k: 'debits' | 'debits-amount' | 'reversals' | 'reversals-amount'): number => (v[k] === undefined ? 0 : int(v[k] as string, k, 0, 9_999_999_999));
    Object.assign(f, reconciliationFields({ debits: n('debits'), debitsAmount: n('debits-amount'), debitReversals: n('reversals'), debitReversalsAmount: n('reversals-amount') }));
  }
  for (const raw of v.field ?? []) {
    const m = /^([0-9]{1,3})=(.*)$/s.exec(raw);
    if (!m) throw new UsageError(`--field ${JSON.stringify(raw)} is not DE=VALUE`);
    f[Number(m[1])] = m[2];
  }
  const msg = build(kind, { terminalId, servicePoint: servicePoint ?? '', stan, at: new Date() }, f);
  msg.mti = mti;
  return msg;
}
