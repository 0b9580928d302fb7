/**
 * The TCP (and TLS) front of the switch. Each listener has its framing and its spec. A
 * connection may have several requests in flight; answers go out as they complete (terminals
 * match them by STAN). Reading stops while the socket cannot take more writes, while the
 * connection or the whole server has too much in flight, and after shutdown began.
 */
import net from 'node:net';
import tls from 'node:tls';
import {
  Codec,
  DecodeError,
  FrameError,
  Framer,
  expectsResponse,
  framePrefixBytes,
  responseMti,
  tpduReply,
  writeFramePrefix,
  type FramingOptions,
  type IsoFields,
  type IsoMessage,
  type MessageSpec,
} from '../protocol/index.js';
import { TerminalSession, type ConnectionContext } from './session.js';
import { TerminalRateLimiter, TokenBucket } from './rate-limit.js';

export interface ListenerConfig {
  name: string;
  host: string;
  port: number;
  framing: FramingOptions;
  spec: MessageSpec;
  tls?: { key: Buffer; cert: Buffer; ca?: Buffer; requestCert: boolean };
  /** Every message after sign-on must carry the terminal's MAC (SWITCH_AUTH=mac, not mutual TLS). */
  macRequired?: boolean;
}

export interface ServerLimits {
  maxConnections: number;
  maxInFlightPerConnection: number;
  maxInFlightTotal: number;
  /** Close a connection silent for this long (terminals send echo keep-alives). */
  idleTimeoutMs: number;
  /** Close a connection whose frame started and did not finish within this time. */
  frameTimeoutMs: number;
  /** Before its terminal has signed on, a connection silent for this long is closed. */
  signOnTimeoutMs: number;
  /** Connections from one peer address at once; beyond, a new one is closed (0: no limit). */
  maxConnectionsPerPeer: number;
  /** Frames per second (token bucket) one connection, and one peer address, may send; beyond, a frame is dropped unread (0: no limit). */
  connectionRate: number;
  connectionBurst: number;
  peerRate: number;
  peerBurst: number;
}

/** `packed`: the message's bytes as received (no frame header or TPDU), for its MAC. */
export type MessageHandler = (msg: IsoMessage, ctx: ConnectionContext, packed: Buffer) => Promise<IsoMessage | null>;

export interface ServerEvents {
  connection?(listener: string, open: number): void;
  /** A connection or frame refused before decoding: too many connections or frames from its peer, or too many frames on its connection. */
  refused?(ctx: ConnectionContext, reason: 'peer_connections' | 'connection_rate' | 'peer_rate'): void;
  /** A frame error closes the connection; a decode error gets 30 when the MTI could be read. */
  protocolError?(listener: string, kind: 'frame' | 'decode' | 'encode' | 'timeout', detail: string): void;
}

/** Fields of a request that a 30 answer echoes, so the terminal can match it. */
const FORMAT_ERROR_ECHO = [3, 4, 7, 11, 12, 13, 41, 42];

class Connection {
  readonly framer: Framer;
  inFlight = 0;
  lastActivity = Date.now();
  frameStartedAt = 0;
  private writeBlocked = false;
  private paused = false;
  private corked = false;
  closing = false;
  /** Its terminal session, and what the handler may do to the connection: one object for its life. */
  readonly ctx: ConnectionContext;
  private readonly bucket: TokenBucket;

  constructor(
    private readonly server: SwitchServer,
    readonly socket: net.Socket,
    private readonly listener: ListenerConfig,
    private readonly codec: Codec,
    readonly peer: string,
  ) {
    this.framer = new Framer(listener.framing);
    this.bucket = new TokenBucket(server.limits.connectionRate, server.limits.connectionBurst);
    this.ctx = {
      listener: listener.name,
      remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
      session: new TerminalSession(certifiedTerminals(socket)),
      end: () => this.drain(),
    };
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => {
      this.writeBlocked = false;
      this.flow();
    });
    socket.on('error', () => {}); // 'close' follows
  }

  private onData(chunk: Buffer): void {
    this.lastActivity = Date.now();
    const before = this.framer.pending;
    try {
      this.framer.push(chunk, (body, tpdu) => this.onFrame(body, tpdu));
    } catch (e) {
      this.server.events.protocolError?.(this.listener.name, 'frame', (e as FrameError).message);
      this.socket.destroy();
      return;
    }
    if (this.framer.pending > 0 && (before === 0 || this.frameStartedAt === 0)) this.frameStartedAt = Date.now();
    if (this.framer.pending === 0) this.frameStartedAt = 0;
  }

  private onFrame(body: Buffer, tpdu: Buffer | undefined): void {
    if (this.closing) return;
    // Before anything is decoded: a flood costs the switch a frame header's worth, and the
    // connection's and the peer's limits hold whatever DE41 the frames claim.
    if (!this.bucket.take()) {
      this.server.events.refused?.(this.ctx, 'connection_rate');
      return;
    }
    if (!this.server.peerLimiter.take(this.peer)) {
      this.server.events.refused?.(this.ctx, 'peer_rate');
      return;
    }
    let msg: IsoMessage;
    try {
      msg = this.codec.decode(body);
    } catch (e) {
      const err = e as DecodeError;
      this.server.events.protocolError?.(this.listener.name, 'decode', err.message);
      if (err instanceof DecodeError && err.mti !== undefined && expectsResponse(err.mti)) {
        const fields: IsoFields = { 39: '30' };
        const partial = (err.partial ?? {}) as IsoFields;
        for (const de of FORMAT_ERROR_ECHO) {
          const v = partial[de];
          if (typeof v === 'string' && this.codec.field(de)) fields[de] = v;
        }
        this.send({ mti: responseMti(err.mti), fields }, tpdu);
      } else {
        this.socket.destroy(); // not even an MTI: nothing can be answered
      }
      return;
    }
    this.inFlight++;
    this.server.inFlight++;
    // Crossing the global limit re-evaluates every connection; otherwise only this one.
    if (this.server.inFlight === this.server.limits.maxInFlightTotal) this.server.flowEvery();
    else this.flow();
    this.server.handler(msg, this.ctx, body).then(
      (answer) => {
        if (answer) this.send(answer, tpdu);
        this.done();
      },
      () => this.done(), // the handler never throws; belt and braces
    );
  }

  private done(): void {
    this.inFlight--;
    this.server.inFlight--;
    if (this.server.inFlight === this.server.limits.maxInFlightTotal - 1) this.server.flowEvery();
    else this.flow();
    if (this.closing && this.inFlight === 0) this.socket.end();
  }

  private send(answer: IsoMessage, tpdu: Buffer | undefined): void {
    if (this.socket.destroyed) return;
    let frame: Buffer;
    try {
      frame = this.codec.encode(answer, { reserve: framePrefixBytes(this.listener.framing) });
      writeFramePrefix(frame, this.listener.framing, tpdu ? tpduReply(tpdu) : undefined);
    } catch (e) {
      this.server.events.protocolError?.(this.listener.name, 'encode', (e as Error).message);
      return;
    }
    // Answers of one ledger batch complete in the same tick: cork, and send them in one write.
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    if (!this.socket.write(frame)) {
      this.writeBlocked = true;
      this.flow();
    }
  }

  /** Pauses or resumes reading according to everything that limits it. */
  flow(): void {
    const stop =
      this.closing ||
      this.writeBlocked ||
      this.inFlight >= this.server.limits.maxInFlightPerConnection ||
      this.server.inFlight >= this.server.limits.maxInFlightTotal;
    if (stop && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!stop && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Stop reading; end once what is in flight has been answered. */
  drain(): void {
    this.closing = true;
    this.flow();
    if (this.inFlight === 0) this.socket.end();
  }
}

export class SwitchServer {
  readonly connections = new Set<Connection>();
  inFlight = 0;
  /** Open connections by peer address. */
  private readonly perPeer = new Map<string, number>();
  readonly peerLimiter: TerminalRateLimiter;
  private readonly servers: net.Server[] = [];
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    readonly listeners: readonly ListenerConfig[],
    readonly limits: ServerLimits,
    readonly handler: MessageHandler,
    readonly events: ServerEvents = {},
  ) {
    this.peerLimiter = new TerminalRateLimiter(limits.peerRate, limits.peerBurst);
  }

  /** Starts every listener; resolves with their bound addresses. */
  async listen(): Promise<{ name: string; host: string; port: number; tls: boolean }[]> {
    const out: { name: string; host: string; port: number; tls: boolean }[] = [];
    for (const l of this.listeners) {
      const codec = new Codec(l.spec);
      const accept = (socket: net.Socket): void => {
        const peer = socket.remoteAddress ?? '?';
        const c = new Connection(this, socket, l, codec, peer);
        const open = (this.perPeer.get(peer) ?? 0) + 1;
        this.perPeer.set(peer, open);
        socket.on('close', () => {
          const left = (this.perPeer.get(peer) ?? 1) - 1;
          if (left > 0) this.perPeer.set(peer, left);
          else this.perPeer.delete(peer);
          if (this.connections.delete(c)) this.events.connection?.(l.name, this.connections.size); // its in-flight work still completes and is counted down
        });
        if (this.limits.maxConnectionsPerPeer > 0 && open > this.limits.maxConnectionsPerPeer) {
          this.events.refused?.(c.ctx, 'peer_connections');
          socket.destroy();
          return;
        }
        this.connections.add(c);
        this.events.connection?.(l.name, this.connections.size);
      };
      const server = l.tls
        ? tls.createServer({ key: l.tls.key, cert: l.tls.cert, ca: l.tls.ca, requestCert: l.tls.requestCert, rejectUnauthorized: l.tls.requestCert }, accept)
        : net.createServer(accept);
      server.maxConnections = this.limits.maxConnections;
      // TLS handshake failures are a client problem; keep serving.
      server.on('tlsClientError', (e: Error) => this.events.protocolError?.(l.name, 'frame', `TLS: ${e.message}`));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: l.host, port: l.port, backlog: 4096 }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.servers.push(server);
      const addr = server.address() as net.AddressInfo;
      out.push({ name: l.name, host: addr.address, port: addr.port, tls: Boolean(l.tls) });
    }
    const shortest = Math.min(this.limits.idleTimeoutMs, this.limits.frameTimeoutMs, this.limits.signOnTimeoutMs);
    this.sweeper = setInterval(() => this.sweep(), Math.min(1000, Math.max(50, Math.floor(shortest / 4))));
    this.sweeper.unref();
    return out;
  }

  /** Re-evaluates reading on every connection (the global in-flight count crossed its limit). */
  flowEvery(): void {
    for (const c of this.connections) c.flow();
  }

  private sweep(): void {
    const now = Date.now();
    this.peerLimiter.prune();
    for (const c of this.connections) {
      if (c.inFlight > 0) continue;
      if (now - c.lastActivity > this.limits.idleTimeoutMs) {
        this.events.protocolError?.('sweep', 'timeout', 'idle connection closed');
        c.socket.destroy();
      } else if (!c.ctx.session.signedOn && now - c.lastActivity > this.limits.signOnTimeoutMs) {
        this.events.protocolError?.('sweep', 'timeout', 'idle connection without a signed-on terminal closed');
        c.socket.destroy();
      } else if (c.frameStartedAt > 0 && now - c.frameStartedAt > this.limits.frameTimeoutMs) {
        this.events.protocolError?.('sweep', 'timeout', 'frame started and never finished');
        c.socket.destroy();
      }
    }
  }

  /**
   * Graceful stop: no new connections, no new frames; what is in flight is answered; then
   * sockets end. After `graceMs`, whatever remains is destroyed.
   */
  async close(graceMs = 10_000): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    const closed = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const c of this.connections) c.drain();
    const deadline = Date.now() + graceMs;
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections) c.socket.destroy();
    await closed;
  }
}

/**
 * Mutual TLS: the terminals an authorized client certificate names, its subject CN and its DNS
 * subject alternative names; undefined on plain TCP or a TLS connection without a verified
 * client certificate (the listener refuses those when it requires one).
 */
export function certifiedTerminals(socket: net.Socket): string[] | undefined {
  if (!(socket instanceof tls.TLSSocket) || !socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (cert === null || Object.keys(cert).length === 0) return undefined;
  const names: string[] = [];
  const cn = cert.subject?.CN;
  if (typeof cn === 'string') names.push(cn);
  else if (Array.isArray(cn)) names.push(...(cn as string[]));
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*DNS:(.+)$/.exec(part);
    if (m) names.push(m[1].trim());
  }
  return names;
}
