/**
 * End-to-end helpers: a switch started on ephemeral ports against a test schema and its own
 * Redis prefix, and a minimal TCP terminal that sends framed messages and matches answers
 * by STAN.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { Codec, Framer, ascii87, framePrefixBytes, writeFramePrefix, type FramingOptions, type IsoMessage, type MessageSpec } from '../../protocol/index.js';
import { loadSwitchConfig } from '../../switch/config.js';
import { startSwitch, type RunningSwitch } from '../../switch/app.js';
import { DATABASE_URL, type TestDb } from './db.js';
import type { TestContext } from './tap.js';
import { deleteKeys } from '../../backoffice/redis.js';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const HASH_SECRET = 'test-hash-secret-0123456789';
/** The tests' key-encryption key (KEY_ENCRYPTION_KEY). */
export const KEK_HEX = '8f1c2b3a4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8';
export const KEK = Buffer.from(KEK_HEX, 'hex');

export function testPrefix(): string {
  return `t${process.pid}${randomBytes(3).toString('hex')}:`;
}

/** Deletes every Redis key under `prefix`. */
export async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await deleteKeys(r, prefix);
  } finally {
    r.disconnect();
  }
}

export interface TestSwitch extends RunningSwitch {
  port: number;
  prefix: string;
}

export async function testSwitch(t: TestContext, db: TestDb, env: Record<string, string> = {}): Promise<TestSwitch> {
  const prefix = env.REDIS_PREFIX ?? testPrefix();
  const config = loadSwitchConfig({
    DATABASE_URL,
    DB_SCHEMA: db.schema,
    REDIS_URL,
    REDIS_PREFIX: prefix,
    HASH_SECRET,
    KEY_ENCRYPTION_KEY: KEK_HEX,
    SWITCH_LISTENERS: '127.0.0.1:0/binary2/ascii87',
    METRICS_PORT: '0',
    LOG_LEVEL: 'silent',
    // Tests send bursts from one terminal, connection and address; the limits have their own tests.
    SWITCH_TERMINAL_RATE: '0',
    SWITCH_CONNECTION_RATE: '0',
    SWITCH_PEER_RATE: '0',
    SWITCH_MAX_CONNECTIONS_PER_PEER: '0',
    // Most tests speak for terminals without keys; the MAC's own tests set SWITCH_AUTH=mac.
    SWITCH_AUTH: 'none',
    CYNOD_DEV: '1',
    ...env,
  });
  const running = await startSwitch(config, { migrate: false, logger: pino({ level: process.env.SWITCH_TEST_LOG ?? 'silent' }) });
  t.teardown(async () => {
    await running.close();
    await dropPrefix(prefix);
  });
  return { ...running, port: running.listeners[0].port, prefix };
}

/** A terminal connection: send a message, get the answer with the same STAN (and response MTI). */
export class TestTerminal {
  private readonly socket: net.Socket;
  private readonly framer: Framer;
  private readonly codec: Codec;
  private readonly waiting = new Map<string, (m: IsoMessage) => void>();
  readonly received: IsoMessage[] = [];
  closed = false;

  private constructor(socket: net.Socket, spec: MessageSpec, private readonly framing: FramingOptions) {
    this.socket = socket;
    this.codec = new Codec(spec);
    this.framer = new Framer(framing);
    socket.on('data', (chunk) =>
      this.framer.push(chunk, (body) => {
        const m = this.codec.decode(body);
        this.received.push(m);
        const key = `${m.mti}:${String(m.fields[11] ?? '')}`;
        const w = this.waiting.get(key);
        if (w) {
          this.waiting.delete(key);
          w(m);
        }
      }),
    );
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => {});
  }

  /** `localAddress` (e.g. 127.0.0.2) makes the connection come from another peer address. */
  static connect(port: number, opts: { spec?: MessageSpec; framing?: FramingOptions; host?: string; localAddress?: string } = {}): Promise<TestTerminal> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: opts.host ?? '127.0.0.1', localAddress: opts.localAddress }, () => resolve(new TestTerminal(s, opts.spec ?? ascii87, opts.framing ?? {})));
      s.once('error', reject);
    });
  }

  /**
   * A connection on which `terminalId` has signed on (0800, DE70 001): the switch accepts a
   * terminal's financial messages only there. The test world's terminals are initialized, so
   * no security PIN is needed.
   */
  static async signedOn(port: number, terminalId: string, opts: { spec?: MessageSpec; framing?: FramingOptions; host?: string; localAddress?: string; pin?: string } = {}): Promise<TestTerminal> {
    const term = await TestTerminal.connect(port, opts);
    const code = await term.signOn(terminalId, opts.pin);
    if (code !== '00') {
      term.close();
      throw new Error(`sign-on of ${terminalId} answered ${code}`);
    }
    return term;
  }

  /** Sends a sign-on (with the security PIN in DE48 SP when given); resolves with DE39. */
  async signOn(terminalId: string, pin?: string): Promise<string> {
    const fields: IsoMessage['fields'] = { 7: de7(), 11: nextStan(), 41: terminalId, 70: '001' };
    if (pin !== undefined) fields[48] = `SP${String(pin.length).padStart(3, '0')}${pin}`;
    return String((await this.send({ mti: '0800', fields })).fields[39]);
  }

  /** Sends a sign-off; resolves with DE39. */
  async signOff(terminalId: string): Promise<string> {
    return String((await this.send({ mti: '0800', fields: { 7: de7(), 11: nextStan(), 41: terminalId, 70: '002' } })).fields[39]);
  }

  send(msg: IsoMessage, timeoutMs = 5000): Promise<IsoMessage> {
    const answer = this.answerTo(msg, timeoutMs);
    this.sendRaw(msg);
    return answer;
  }

  /**
   * The answer to `msg` (same STAN, response MTI), without sending it: for messages written
   * together with `write(Buffer.concat(...frames))`. Register before writing.
   */
  answerTo(msg: IsoMessage, timeoutMs = 5000): Promise<IsoMessage> {
    const stan = String(msg.fields[11] ?? '');
    const respMti = msg.mti.slice(0, 2) + String(Number(msg.mti[2]) + 1) + '0';
    const key = `${respMti}:${stan}`;
    if (this.waiting.has(key)) return Promise.reject(new Error(`already waiting for ${key}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`no answer to ${msg.mti} STAN ${stan} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
  }

  /** `msg` encoded and framed as this connection sends it. */
  frame(msg: IsoMessage): Buffer {
    const frame = this.codec.encode(msg, { reserve: framePrefixBytes(this.framing) });
    writeFramePrefix(frame, this.framing);
    return frame;
  }

  sendRaw(msg: IsoMessage): void {
    this.socket.write(this.frame(msg));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves when the switch closes the connection (or after timeoutMs, false). */
  waitClosed(timeoutMs = 3000): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

let stanCounter = Math.floor(Math.random() * 500000);
export function nextStan(): string {
  stanCounter = (stanCounter + 1) % 1000000;
  return String(stanCounter).padStart(6, '0');
}

/** MMDDhhmmss of now (UTC). */
export function de7(d = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}
