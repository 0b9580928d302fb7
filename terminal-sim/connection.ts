/**
 * How every terminal of the simulator talks to the switch, in two layers:
 * - `FrameLink`: one TCP connection and its framing. Frames out, written at once or queued and
 *   flushed together (the load writes what a tick made in one write); frames in, cut from the
 *   stream and handed on before the next read. The firmware model, `send` and the load all use it.
 * - `HostConnection`: a FrameLink with the codec, the MAC and the requests in flight: an answer is
 *   matched to its request by response MTI, STAN and terminal id (`answerKey`); one that matches
 *   nothing (late, after its request timed out) goes to `onUnmatched`. The firmware model and
 *   `send` use it; the load matches its own answers by a number (terminal index, STAN), which
 *   allocates nothing at its rates, and the sign-ons it sends by `answerKey`.
 */
import net from 'node:net';
import { macRequired, signInPlace, withMacPlaceholder, type WorkingKeySet } from './keys.js';
import { Codec, Framer, framePrefixBytes, responseMti, writeFramePrefix, type FramingOptions, type IsoMessage } from '../protocol/index.js';
import type { Wire } from './wire.js';

interface Waiter {
  resolve: (m: IsoMessage | undefined) => void;
  timer: NodeJS.Timeout;
}

/** The key an answer is matched on: response MTI, STAN, terminal id. */
export function answerKey(mti: string, fields: IsoMessage['fields']): string {
  return `${mti}:${String(fields[11] ?? '')}:${String(fields[41] ?? '').trimEnd()}`;
}

/**
 * A TCP connection to the switch, or an error that says why not within `timeoutMs`: how every
 * terminal of the simulator connects (the firmware model and `send` through HostConnection,
 * the load engine with `onread`, its shared read buffer).
 */
export function dial(host: string, port: number, timeoutMs = 5000, onread?: net.OnReadOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = onread ? net.connect({ host, port, onread }) : net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`cannot connect to ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot connect to ${host}:${port}: ${e.message}`));
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** One connection's frames: written at once or queued for a flush; read and cut into frames. */
export class FrameLink {
  private readonly framer: Framer;
  private out: Buffer[] = [];
  closed = false;

  /**
   * `onFrame` gets each frame's body (without its length header and TPDU), valid until it
   * returns; a stream that does not frame closes the connection (`onBadFrame` says why).
   * With `sharedRead` (the socket was dialled with `onread`), chunks come through `read`.
   */
  constructor(
    readonly socket: net.Socket,
    framing: FramingOptions,
    private readonly onFrame: (body: Buffer) => void,
    private readonly hooks: { onClose?: () => void; onBadFrame?: (reason: string) => void; onError?: (e: Error) => void; sharedRead?: boolean } = {},
  ) {
    this.framer = new Framer(framing);
    socket.setNoDelay(true);
    if (!hooks.sharedRead) socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (e) => hooks.onError?.(e));
    socket.on('close', () => {
      this.closed = true;
      hooks.onClose?.();
    });
  }

  /** A chunk read from the socket: framed and handed on before the next read may reuse it. */
  read(chunk: Buffer): void {
    try {
      this.framer.push(chunk, this.onFrame);
    } catch (e) {
      this.hooks.onBadFrame?.((e as Error).message);
      this.socket.destroy();
    }
  }

  write(frame: Buffer): void {
    if (!this.closed) this.socket.write(frame);
  }

  /** Held until `flush`, which writes every queued frame in one write. */
  queue(frame: Buffer): void {
    this.out.push(frame);
  }

  flush(): void {
    if (this.out.length === 0 || this.closed) {
      this.out.length = 0;
      return;
    }
    this.socket.write(this.out.length === 1 ? this.out[0] : Buffer.concat(this.out));
    this.out = [];
  }

  /** Ends the connection; resolves when it is closed (destroyed after a second at most). */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.socket.once('close', () => resolve());
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }
}

export class HostConnection {
  private readonly codec: Codec;
  private readonly link: FrameLink;
  private readonly framing: FramingOptions;
  private readonly prefix: number;
  private readonly waiting = new Map<string, Waiter>();
  /** Time of the last byte sent or received (ms since epoch): what the keep-alive looks at. */
  lastActivityAt = Date.now();
  closed = false;
  onUnmatched?: (m: IsoMessage) => void;
  /** The working keys that MAC what is sent, when the firmware holds some. */
  macKeys?: () => WorkingKeySet | undefined;
  onProblem?: (reason: string) => void;

  private constructor(
    socket: net.Socket,
    private readonly wire: Wire,
  ) {
    this.codec = new Codec(wire.spec);
    this.framing = { header: wire.header, tpdu: wire.tpdu !== undefined, maxFrame: wire.maxFrame };
    this.prefix = framePrefixBytes(this.framing);
    this.link = new FrameLink(socket, this.framing, (body) => this.onFrame(body), {
      onClose: () => this.onClosed(),
      onError: (e) => this.onProblem?.(`connection error: ${e.message}`),
      onBadFrame: (reason) => this.onProblem?.(`bad frame from the host: ${reason}`),
    });
    socket.on('data', () => (this.lastActivityAt = Date.now()));
  }

  static async connect(host: string, port: number, wire: Wire, timeoutMs = 5000): Promise<HostConnection> {
    return new HostConnection(await dial(host, port, timeoutMs), wire);
  }

  /** Sends `msg`; resolves with its answer, or undefined when none came within timeoutMs (or the connection closed). */
  request(msg: IsoMessage, timeoutMs: number): Promise<IsoMessage | undefined> {
    const key = answerKey(responseMti(msg.mti), msg.fields);
    return new Promise((resolve) => {
      if (this.closed) {
        resolve(undefined);
        return;
      }
      const earlier = this.waiting.get(key);
      if (earlier) {
        // a repeat replaces its original's wait: whichever answer comes settles the repeat
        clearTimeout(earlier.timer);
        earlier.resolve(undefined);
      }
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(key, { resolve, timer });
      this.write(msg);
    });
  }

  /** Sends without waiting for an answer. */
  write(msg: IsoMessage): void {
    if (this.closed) return;
    const keys = macRequired(msg) ? this.macKeys?.() : undefined;
    const frame = this.codec.encode(keys ? withMacPlaceholder(msg) : msg, { reserve: this.prefix });
    if (keys) signInPlace(this.wire.spec, frame.subarray(this.prefix), keys);
    writeFramePrefix(frame, this.framing, this.wire.tpdu);
    this.lastActivityAt = Date.now();
    this.link.write(frame);
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  close(): Promise<void> {
    return this.link.close();
  }

  private onFrame(body: Buffer): void {
    let m: IsoMessage;
    try {
      m = this.codec.decode(body);
    } catch (e) {
      this.onProblem?.(`undecodable answer: ${(e as Error).message}`);
      return;
    }
    const key = answerKey(m.mti, m.fields);
    const w = this.waiting.get(key);
    if (w) {
      this.waiting.delete(key);
      clearTimeout(w.timer);
      w.resolve(m);
    } else {
      this.onUnmatched?.(m);
    }
  }

  private onClosed(): void {
    this.closed = true;
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.resolve(undefined);
    }
    this.waiting.clear();
  }
}
