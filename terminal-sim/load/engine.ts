/**
 * The load generator: many terminals over many connections, open loop. Transaction k is
 * due at schedule.timeOf(k) whatever the switch did before, and its latency is measured
 * from that intended time (no coordinated omission: a stall of the switch, or of this
 * generator, shows up in the latencies of everything that should have been sent meanwhile).
 *
 * Each terminal has a connection of its own (the switch binds a connection to the terminal
 * that signed on over it): with fewer connections than terminals, as many terminals, spread
 * evenly over the fleet, are used. Each terminal keeps its STAN sequence; an
 * answer is matched by terminal (DE41) and STAN (DE11): a sign-on's by the key `send` and the
 * firmware model use (connection.ts answerKey), a transaction's by a number made of the
 * terminal's index and its STAN, which allocates nothing at the load's rates. A pump session is a pre-authorization
 * then, when approved, a completion advice of `dispensed` x amount sent at once. Each type's
 * fields are set in place in one object per type, and its frame is a copy of one encoded
 * before, with the fields that change patched in (template.ts: byte for byte the codec's);
 * frames are written once per tick, or per read of answers, and connection (with many
 * connections that is mostly one frame a write); a read of answers also sends what has fallen
 * due since the last tick, so that sends do not wait for a timer that fires late; answers are
 * read into one buffer that every connection shares. A connection is a connection.ts
 * FrameLink, as for `send` and the firmware model.
 *
 * Each terminal is played as its firmware would: it signs on (with its security PIN when the
 * fleet gives one, taking the working keys the 0810 sends, unwrapped under its master key),
 * renews its working keys by a key change (0800, DE70 161) when it holds a master key, MACs
 * every message after the sign-on under its MAC key (DE64, or DE128 with a secondary bitmap)
 * and enciphers the cardholder's PIN under its PIN key (DE52, format 0) for a card that has
 * one. The keys it ends with are what `keys()` returns, for the fleet file to keep.
 */
import { performance } from 'node:perf_hooks';
import { Codec, buildDe48, framePrefixBytes, writeFramePrefix, type FramingOptions, type IsoFields, type IsoMessage } from '../../protocol/index.js';
import { encodePinBlock0, encryptEncodedPinBlock0, messageMac } from '../../protocol/security/index.js';
import { SecondClock } from '../clock.js';
import type { FleetCard, FleetCode, FleetTerminal } from '../fleet.js';
import { KeyDeliveryError, Keyring, macField, pinBlock4Hex, type WorkingKeySet } from '../keys.js';
import { amountField, build, merchantField, originalField, track2 } from '../messages.js';
import { formatStan } from '../stan.js';
import { FrameLink, answerKey, dial } from '../connection.js';
import type { Wire } from '../wire.js';
import { MixDraw, type MessageType, type Mix, type Schedule } from './plan.js';
import { LoadStats, type SecondPoint } from './stats.js';
import { FrameTemplates } from './template.js';

/** How a message carries the cardholder's PIN: not at all, in DE52 (format 0), in DE48 PB (format 4). */
const enum PinMode {
  None = 0,
  De52 = 1,
  De48 = 2,
}

export interface LoadConfig {
  host: string;
  port: number;
  wire: Wire;
  terminals: readonly FleetTerminal[];
  connections: number;
  cards: readonly FleetCard[];
  codes: readonly FleetCode[];
  schedule: Schedule;
  mix: Mix;
  /** Amount of a purchase, redemption or pre-authorization (minor units). */
  amount: number;
  /** Completion amount = round(amount x dispensed), at least 1. */
  dispensed: number;
  timeoutMs: number;
  /** Sign every terminal on first (default true; the switch refuses a terminal's transactions on a connection where it has not). */
  signOn: boolean;
  /** MAC every message after the sign-on, for terminals that hold working keys (default true). */
  mac?: boolean;
  /** Send the cardholder's PIN (DE52) for cards that have one, under the terminal's PIN key (default true). */
  pin?: boolean;
  /** Renew the working keys after the sign-on, for terminals with a master key (default true). */
  keyChange?: boolean;
  seed: number;
  /** Called once a second with that second's figures. */
  onSecond?: (p: SecondPoint, stats: LoadStats) => void;
  /** Problems worth a line (connection lost, sign-on refused). */
  onProblem?: (line: string) => void;
}

export interface LoadResult {
  stats: LoadStats;
  elapsedMs: number;
  started: Date;
  signOn: { ok: number; refused: Record<string, number>; timeouts: number; keysRenewed: number };
  codesUsed: number;
  /** Redemptions drawn after the fleet's codes ran out (sent as purchases). */
  codesExhausted: number;
  /** Messages of the run sent with a MAC, and with a cardholder PIN block. */
  security: { maced: number; pinBlocks: number };
}

interface Term {
  idx: number;
  id: string;
  sp: string;
  stan: number;
  link: Link;
  pin?: string;
  keyring: Keyring;
  /** The working keys changed during this run (delivered at initialisation or renewed). */
  keysChanged: boolean;
}

interface Pending {
  type: MessageType;
  intended: number;
  term: Term;
  amount: number;
  stan: string;
  dt: string;
}

const TYPE_MTI: Readonly<Record<MessageType, string>> = { purchase: '0200', preauth: '0100', completion: '0220', inquiry: '0200', redeem: '0200' };
const ANSWER_MTI: Readonly<Record<MessageType, string>> = { purchase: '0210', preauth: '0110', completion: '0230', inquiry: '0210', redeem: '0210' };

/** Bytes one read takes from a connection (frames split across reads are assembled by the Framer). */
const READ_BUFFER = 65_536;

type Link = FrameLink;
export class LoadEngine {
  stats = new LoadStats();
  private running = false;
  private readonly codec: Codec;
  private readonly framing: FramingOptions;
  private readonly prefix: number;
  private readonly clock = new SecondClock();
  private readonly draw: MixDraw;
  private links: Link[] = [];
  private terms: Term[] = [];
  private readonly termIndex = new Map<string, number>();
  private readonly pending = new Map<number, Pending>();
  private readonly waiters = new Map<string, (m: IsoMessage) => void>();
  /**
   * The fields and frames of each type, per way of sending the cardholder's PIN (PinMode): none,
   * DE52 (format 0, 3DES keys), DE48 PB (format 4, AES keys).
   */
  private templates!: Record<MessageType, IsoFields>[];
  private frames!: Record<MessageType, FrameTemplates>[];
  /** Track 2 of each card, made once. */
  private readonly tracks: string[];
  /** The MAC is written as 16 hex digits (else 8 bytes) at the end of a frame. */
  private readonly macHex: boolean;
  private macOn = false;
  private maced = 0;
  private pinBlocks = 0;
  /**
   * The clear format 0 PIN block of each card (its PIN field XOR its PAN field), made once; each
   * message enciphers it under its terminal's PIN key. Enciphered blocks are not kept: a load's
   * terminal and card advance together, so a (key, card) pair comes back only after
   * lcm(terminals, cards) messages (5 million with the bench fleet's 500 and 9,999); such a cache
   * grows by every message, and the simulator's full collections pause for it (13 ms at
   * 2,500/s, in the latencies it measures).
   */
  private readonly clear0: (Buffer | undefined)[] = [];
  private cardNext = 0;
  private termNext = 0;
  private signOnResult: LoadResult['signOn'] = { ok: 0, refused: {}, timeouts: 0, keysRenewed: 0 };
  private codeNext = 0;
  private codesExhausted = 0;
  private t0 = 0;
  /** While a run sends: what has fallen due, sent from a read of answers (see run). */
  private sendDue: (() => void) | undefined;
  private dirty = new Set<Link>();
  /** The current DE7 and its DE12, DE13 (they change once a second). */
  private dt = '';
  private de12 = '';
  private de13 = '';
  private lastAmount = -1;
  private lastAmountText = '';

  constructor(private readonly cfg: LoadConfig) {
    if (cfg.terminals.length === 0) throw new Error('no terminals');
    if (cfg.cards.length === 0 && (cfg.mix.purchase > 0 || cfg.mix.preauth > 0 || cfg.mix.inquiry > 0)) throw new Error('no cards: the fleet file lists none');
    if (cfg.terminals.length > 99_999) throw new Error('at most 99999 terminals');
    this.codec = new Codec(cfg.wire.spec);
    this.framing = { header: cfg.wire.header, tpdu: cfg.wire.tpdu !== undefined, maxFrame: cfg.wire.maxFrame };
    this.prefix = framePrefixBytes(this.framing);
    this.draw = new MixDraw(cfg.mix, cfg.seed);
    this.tracks = cfg.cards.map((c) => track2(c.pan, c.expiry));
    this.macHex = cfg.wire.spec.fields[64]?.encoding === 'hex';
    this.makeTemplates(false);
  }

  /**
   * The templates of each type, with the MAC field (DE64; DE128 for the completion, whose DE90
   * needs a secondary bitmap) as a placeholder when `mac`, and a variant per PinMode for cards
   * with a PIN: DE52's 8 bytes, or DE48 with its PB tag (a fixed length, so patched in place).
   */
  private makeTemplates(mac: boolean): void {
    const fuel = buildDe48({ SV: 'FUEL' });
    const fuelPb = buildDe48({ SV: 'FUEL', PB: '0'.repeat(32) });
    const common = { 7: '', 11: '', 12: '', 13: '', 41: '', 42: '' };
    const m64 = mac ? { 64: Buffer.alloc(8) } : {};
    const m128 = mac ? { 128: Buffer.alloc(8) } : {};
    const pinBlock = Buffer.alloc(8);
    // field order of each template is its encoding order: keep integer keys, set values in place
    const make = (pin: PinMode): Record<MessageType, IsoFields> => {
      const p = pin === PinMode.De52 ? { 52: pinBlock } : {};
      const d48 = pin === PinMode.De48 ? fuelPb : fuel;
      return {
        purchase: { 2: '', 3: '000000', 4: '', ...common, 14: '', 22: '901', 25: '00', 35: '', 48: d48, 49: '952', ...p, ...m64 },
        preauth: { 2: '', 3: '000000', 4: '', ...common, 14: '', 22: '901', 25: '00', 35: '', 48: d48, 49: '952', ...p, ...m64 },
        inquiry: { 2: '', 3: '310000', ...common, 14: '', 22: '901', 25: '00', 35: '', 48: d48, 49: '952', ...p, ...m64 },
        redeem: { 3: '000000', 4: '', ...common, 22: '012', 25: '00', 48: '', 49: '952', ...m64 },
        completion: { 3: '000000', 4: '', ...common, 25: '00', 49: '952', 90: '', ...m128 },
      };
    };
    this.templates = [make(PinMode.None), make(PinMode.De52), make(PinMode.De48)];
    const frames = (type: MessageType, patched: number[], variable?: number): FrameTemplates =>
      new FrameTemplates(this.codec, this.framing, this.cfg.wire.tpdu, this.prefix, TYPE_MTI[type], patched, variable);
    const trace = [7, 11, 12, 13, 41, 42];
    const set = (pin: number[]): Record<MessageType, FrameTemplates> => ({
      // track 2 (35) is as long as its PAN plus a fixed part: the PAN's length picks the template
      purchase: frames('purchase', [2, 4, 14, 35, ...trace, ...pin], 2),
      preauth: frames('preauth', [2, 4, 14, 35, ...trace, ...pin], 2),
      inquiry: frames('inquiry', [2, 14, 35, ...trace, ...pin], 2),
      redeem: frames('redeem', [4, ...trace, 48], 48),
      completion: frames('completion', [4, ...trace, 90]),
    });
    this.frames = [set([]), set([52]), set([48])];
    this.macOn = mac;
  }

  /** The working keys each terminal holds now (hex), and whether this run changed them. */
  keys(): { id: string; mac: string; pin: string; changed: boolean }[] {
    return this.terms.flatMap((t) => {
      const w = t.keyring.working;
      return w ? [{ id: t.id, mac: w.mac.toString('hex').toUpperCase(), pin: w.pin.toString('hex').toUpperCase(), changed: t.keysChanged }] : [];
    });
  }

  /** Opens the connections (and signs the terminals on). */
  async open(): Promise<LoadResult['signOn']> {
    const n = Math.max(1, Math.min(this.cfg.connections, this.cfg.terminals.length));
    // Every connection reads into one buffer (`onread`: no Readable stream, no buffer allocated per
    // read): a chunk is framed and decoded at once, and its frames are not kept, so the next read
    // may overwrite it.
    const buffer = Buffer.allocUnsafe(READ_BUFFER);
    const onFrame = (body: Buffer): void => this.onFrame(body);
    const open = async (): Promise<Link> => {
      const onread = {
        buffer,
        callback: (nread: number, buf: Uint8Array): boolean => {
          link.read((buf as Buffer).subarray(0, nread));
          this.sendDue?.(); // what fell due meanwhile leaves with this turn's writes
          this.flush(); // the completions those answers started
          return true;
        },
      };
      // set before its first read, which comes in a later turn of the event loop
      const link: Link = new FrameLink(await dial(this.cfg.host, this.cfg.port, 5000, onread), this.framing, onFrame, { sharedRead: true, onClose: () => this.onClose(link), onError: () => {} });
      return link;
    };
    this.links = await Promise.all(Array.from({ length: n }, open));
    const all = this.cfg.terminals;
    const used = Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]);
    this.terms = used.map((t, i) => {
      const keyring = new Keyring(t.masterKey ? { algorithm: t.masterKey.algorithm, key: Buffer.from(t.masterKey.key, 'hex') } : undefined);
      const alg = t.masterKey?.algorithm ?? 'tdes';
      if (t.keys) keyring.working = { algorithm: alg, mac: Buffer.from(t.keys.mac, 'hex'), pin: Buffer.from(t.keys.pin, 'hex') };
      return { idx: i, id: t.id, sp: merchantField(t.servicePoint), stan: Math.floor(Math.random() * 900_000), link: this.links[i], pin: t.pin, keyring, keysChanged: false };
    });
    this.terms.forEach((t) => this.termIndex.set(t.id, t.idx));
    if (this.cfg.signOn) await this.signOnAll(this.signOnResult);
    const mac = this.cfg.mac !== false && this.terms.some((t) => t.keyring.working !== undefined);
    if (mac) {
      const without = this.terms.filter((t) => t.keyring.working === undefined).length;
      if (without > 0) this.cfg.onProblem?.(`${without} terminal(s) hold no working keys: their messages carry no valid MAC`);
    }
    this.makeTemplates(mac);
    return this.signOnResult;
  }

  /**
   * Runs the schedule (default: the configured one), then waits for the last answers (up to
   * the timeout). Each run counts afresh: a warm-up is a run whose result is dropped.
   */
  async run(schedule: Schedule = this.cfg.schedule, onSecond = this.cfg.onSecond): Promise<LoadResult> {
    this.stats = new LoadStats();
    this.maced = 0;
    this.pinBlocks = 0;
    this.running = true;
    const started = new Date();
    this.t0 = performance.now();
    let k = 0;
    let next = schedule.timeOf(0);
    let seconds = 0;
    const timeoutUs = this.cfg.timeoutMs * 1000;
    const sweep = (now: number): void => {
      for (const [key, p] of this.pending) {
        if (now - p.intended < this.cfg.timeoutMs) break;
        this.pending.delete(key);
        this.stats.timeout(p.type, timeoutUs);
      }
    };
    const secondTick = (): void => {
      seconds++;
      const p = this.stats.second(seconds, schedule.rateAt((seconds - 0.5) * 1000)); // the mean target over that second
      onSecond?.(p, this.stats);
    };
    const ticker = setInterval(secondTick, 1000);
    await new Promise<void>((resolve) => {
      // The timer is set for the next message's intended time, not every millisecond: on the
      // machines this runs on a process's wake-up costs 35-90 µs of CPU, and at 100/s a 1 ms
      // tick woke the simulator nine times per message. Timeouts are swept on the same ticks,
      // at least every SWEEP_MS.
      let timer: NodeJS.Timeout | undefined;
      let armedFor = Number.NaN;
      const arm = (now: number): void => {
        if (armedFor === next) return;
        clearTimeout(timer);
        armedFor = next;
        timer = setTimeout(tick, Math.max(1, Math.min(SWEEP_MS, Math.floor(next - now))));
      };
      const due = (now: number): void => {
        while (next <= now && next < schedule.durationMs) {
          this.dispatch(next, now);
          next = schedule.timeOf(++k);
        }
      };
      const tick = (): void => {
        const now = performance.now() - this.t0;
        armedFor = Number.NaN;
        due(now);
        this.flush();
        sweep(now);
        if (next >= schedule.durationMs) {
          this.sendDue = undefined;
          resolve();
        } else arm(now);
      };
      // A read of answers also sends what has fallen due since the last tick, rather than
      // leaving it for the timer: a timer set for 1 ms fires later than that, and at a high
      // rate everything due in between waited for it (at 8,000/s against the ceiling: sent late
      // by p50 0.8 and p99 3.4-3.8 ms, against 0.08-0.14 and 1.8-2.4). The timer is then set
      // again for the new next message.
      this.sendDue = (): void => {
        const now = performance.now() - this.t0;
        due(now);
        if (next < schedule.durationMs) arm(now);
      };
      tick();
    });
    // the last answers (and the completions they start)
    while (this.pending.size > 0 && this.links.some((l) => !l.closed)) {
      await sleep(10);
      sweep(performance.now() - this.t0);
    }
    clearInterval(ticker);
    this.running = false;
    this.stats.unanswered = this.pending.size;
    this.pending.clear();
    const elapsedMs = performance.now() - this.t0;
    if (this.stats.series.length === 0 || this.stats.unseriesed()) {
      // the last, partial interval: the series adds up to the totals
      const last = this.stats.series.at(-1)?.t ?? 0;
      this.stats.second(Math.max(last + 0.1, Math.round((elapsedMs / 1000) * 10) / 10), schedule.rateAt(elapsedMs));
    }
    return { stats: this.stats, elapsedMs, started, signOn: this.signOnResult, codesUsed: this.codeNext, codesExhausted: this.codesExhausted, security: { maced: this.maced, pinBlocks: this.pinBlocks } };
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map((l) => l.close()));
  }

  // ------------------------------------------------------------------ sending

  private dispatch(intended: number, now: number): void {
    const term = this.terms[this.termNext++ % this.terms.length];
    let type: MessageType = this.draw.next();
    let code: FleetCode | undefined;
    if (type === 'redeem') {
      code = this.cfg.codes[this.codeNext];
      if (code === undefined) {
        this.codesExhausted++;
        type = 'purchase';
      } else {
        this.codeNext++;
      }
    }
    const ci = this.cardNext++ % Math.max(1, this.cfg.cards.length);
    const card = this.cfg.cards[ci];
    const amount = type === 'inquiry' ? 0 : code ? Math.min(this.cfg.amount, code.amountMax) : this.cfg.amount;
    const pinKey = type !== 'redeem' && card.pin !== undefined && this.cfg.pin !== false ? term.keyring.working : undefined;
    const mode = pinKey === undefined ? PinMode.None : pinKey.algorithm === 'tdes' ? PinMode.De52 : PinMode.De48;
    const f = this.templates[mode][type];
    if (type !== 'redeem') {
      f[2] = card.pan;
      f[14] = card.expiry;
      f[35] = this.tracks[ci];
      if (pinKey !== undefined) {
        if (mode === PinMode.De52) f[52] = this.block0(pinKey.pin, ci, card);
        else f[48] = buildDe48({ SV: 'FUEL', PB: pinBlock4Hex(pinKey.pin, card.pin as string, card.pan) });
        this.pinBlocks++;
      }
    }
    else f[48] = buildDe48({ SV: 'FUEL', TC: code?.code });
    if (type !== 'inquiry') f[4] = this.amountText(amount);
    this.send(type, f, term, amount, intended, now, mode);
  }

  private block0(key: Buffer, ci: number, card: FleetCard): Buffer {
    let clear = this.clear0[ci];
    if (clear === undefined) {
      clear = encodePinBlock0(card.pin as string, card.pan);
      this.clear0[ci] = clear;
    }
    return encryptEncodedPinBlock0(key, clear);
  }

  /** DE4 of `amount`: almost always the configured amount, whose text is kept. */
  private amountText(amount: number): string {
    if (amount !== this.lastAmount) {
      this.lastAmount = amount;
      this.lastAmountText = amountField(amount);
    }
    return this.lastAmountText;
  }

  private send(type: MessageType, f: IsoFields, term: Term, amount: number, intended: number, now: number, pin = PinMode.None): void {
    if (term.link.closed) {
      this.stats.sentOne(type);
      this.stats.lostOne(type);
      return;
    }
    term.stan = term.stan >= 999_999 ? 1 : term.stan + 1;
    const stan = formatStan(term.stan);
    const wall = Date.now();
    const dt = this.clock.de7(wall);
    if (dt !== this.dt) {
      this.dt = dt;
      this.de12 = dt.slice(4);
      this.de13 = dt.slice(0, 4);
    }
    f[7] = dt;
    f[11] = stan;
    f[12] = this.de12;
    f[13] = this.de13;
    f[41] = term.id;
    f[42] = term.sp;
    const frame = this.frames[pin][type].frame(f);
    if (this.macOn) this.sign(frame, term.keyring.working);
    term.link.queue(frame);
    this.dirty.add(term.link);
    this.pending.set(term.idx * 1_000_000 + term.stan, { type, intended, term, amount, stan, dt });
    this.stats.sentOne(type);
    this.stats.sentLate(now - intended);
  }

  /** Writes the MAC of the frame's message (after the frame prefix, up to its last field) into that last field. */
  private sign(frame: Buffer, keys: WorkingKeySet | undefined): void {
    if (keys === undefined) return; // the placeholder stays: the switch answers 63
    this.maced++;
    const end = frame.length - (this.macHex ? 16 : 8);
    const mac = messageMac(keys.algorithm === 'tdes' ? 'retail-mac' : 'aes-cmac', keys.mac, frame.subarray(this.prefix, end));
    if (this.macHex) frame.latin1Write(mac.toString('hex').toUpperCase(), end, 16);
    else mac.copy(frame, end);
  }

  private flush(): void {
    for (const l of this.dirty) l.flush();
    this.dirty.clear();
  }

  // ------------------------------------------------------------------ answers

  private onFrame(body: Buffer): void {
    const now = performance.now() - this.t0;
    let m: IsoMessage;
    try {
      m = this.codec.decode(body);
    } catch {
      this.stats.unmatched++;
      return;
    }
    const id = m.fields[41];
    const stan = m.fields[11];
    const idx = typeof id === 'string' ? this.termIndex.get(id) : undefined;
    const key = idx === undefined || typeof stan !== 'string' ? -1 : idx * 1_000_000 + Number(stan);
    const p = this.pending.get(key);
    if (p === undefined || ANSWER_MTI[p.type] !== m.mti) {
      const w = this.waiters.get(answerKey(m.mti, m.fields));
      if (w) w(m);
      else if (p === undefined && m.mti !== '0810') this.stats.late++;
      else this.stats.unmatched++;
      return;
    }
    this.pending.delete(key);
    const code = typeof m.fields[39] === 'string' ? m.fields[39] : '??';
    this.stats.answer(p.type, code, (now - p.intended) * 1000);
    if (p.type === 'preauth' && code === '00') {
      const f = this.templates[PinMode.None].completion;
      const amount = Math.max(1, Math.round(p.amount * this.cfg.dispensed));
      f[4] = amountField(amount);
      f[90] = originalField({ mti: '0100', stan: p.stan, transmissionDateTime: p.dt });
      this.send('completion', f, p.term, amount, now, now); // written when this chunk has been read
    }
  }

  private onClose(link: Link): void {
    if (!this.running) return;
    this.cfg.onProblem?.('a connection to the switch closed');
    for (const [key, p] of this.pending) {
      if (p.term.link !== link) continue;
      this.pending.delete(key);
      this.stats.lostOne(p.type);
    }
  }

  // ------------------------------------------------------------------ sign-on

  private async signOnAll(result: LoadResult['signOn']): Promise<void> {
    const queue = [...this.terms];
    const worker = async (): Promise<void> => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        let code = await this.signOn(t, t.pin);
        if (code === '58' && t.pin !== undefined) code = await this.signOn(t, undefined); // already initialized
        if (code === '00') result.ok++;
        else if (code === undefined) result.timeouts++;
        else {
          result.refused[code] = (result.refused[code] ?? 0) + 1;
          this.cfg.onProblem?.(`terminal ${t.id}: sign-on answered ${code}`);
        }
        if (code === '00' && this.cfg.keyChange !== false && t.keyring.master !== undefined && t.keyring.working !== undefined) {
          const before = t.keyring.working;
          const renewed = await this.network(t, '161');
          if (renewed === '00' && t.keyring.working !== before) result.keysRenewed++;
          else this.cfg.onProblem?.(`terminal ${t.id}: key change answered ${renewed ?? '(nothing)'}`);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(64, queue.length) }, worker));
  }

  private signOn(t: Term, pin: string | undefined): Promise<string | undefined> {
    return this.network(t, '001', pin ? { 48: buildDe48({ SP: pin }) } : {});
  }

  /**
   * An 0800 (DE70 `code`) and its answer's DE39; working keys the 0810 carries are installed
   * (a delivery that does not unwrap under the master key is refused and reported).
   */
  private network(t: Term, code: '001' | '161', extra: IsoFields = {}): Promise<string | undefined> {
    t.stan = t.stan >= 999_999 ? 1 : t.stan + 1;
    const stan = formatStan(t.stan);
    const msg = build(code === '161' ? 'keyChange' : 'signOn', { terminalId: t.id, servicePoint: '', stan, at: new Date() }, extra);
    const keys = code === '161' ? t.keyring.working : undefined;
    if (keys) msg.fields[macField(msg)] = Buffer.alloc(8);
    const key = answerKey('0810', msg.fields);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        resolve(undefined);
      }, this.cfg.timeoutMs);
      this.waiters.set(key, (m) => {
        clearTimeout(timer);
        this.waiters.delete(key);
        const answered = typeof m.fields[39] === 'string' ? m.fields[39] : undefined;
        if (answered === '00') {
          try {
            if (t.keyring.install(m)) t.keysChanged = true;
          } catch (e) {
            if (!(e instanceof KeyDeliveryError)) throw e;
            this.cfg.onProblem?.(`terminal ${t.id}: ${e.message}`);
          }
        }
        resolve(answered);
      });
      const frame = this.codec.encode(msg, { reserve: this.prefix });
      writeFramePrefix(frame, this.framing, this.cfg.wire.tpdu);
      if (keys) this.sign(frame, keys);
      t.link.write(frame);
    });
  }
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** The longest a run's timer sleeps, so that timeouts are swept at least this often. */
const SWEEP_MS = 100;
