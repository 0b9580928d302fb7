/**
 * Stand-ins for the switch in simulator tests: a scripted host that records what it gets and
 * answers only when its script says so (a silent host by default), and a proxy in front of
 * the real switch that drops chosen answers.
 */
import net from 'node:net';
import { Codec, Framer, ascii87, frame, responseMti, type IsoMessage } from '../../protocol/index.js';
import type { TestContext } from '../helpers/tap.js';

export interface Received {
  msg: IsoMessage;
  at: number;
}

/** What to answer to the n-th message (from 0): a message, or null to stay silent. */
export type Script = (msg: IsoMessage, n: number) => IsoMessage | null;

export const silent: Script = () => null;

/** An answer echoing the request's matching fields, with response code `code`. */
export function answerOf(msg: IsoMessage, code: string): IsoMessage {
  const fields: IsoMessage['fields'] = { 39: code };
  for (const de of [3, 4, 7, 11, 41, 42, 49, 70, 90]) if (msg.fields[de] !== undefined) fields[de] = msg.fields[de];
  return { mti: responseMti(msg.mti), fields };
}

export class ScriptedHost {
  readonly received: Received[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(t: TestContext, script: Script = silent): Promise<ScriptedHost> {
    const codec = new Codec(ascii87);
    const ref: { host?: ScriptedHost } = {};
    const server = net.createServer((socket) => {
      const host = ref.host!;
      host.sockets.add(socket);
      socket.on('close', () => host.sockets.delete(socket));
      socket.on('error', () => {});
      const framer = new Framer();
      socket.on('data', (chunk: Buffer) =>
        framer.push(chunk, (body) => {
          const msg = codec.decode(body);
          const n = host.received.length;
          host.received.push({ msg, at: Date.now() });
          const reply = script(msg, n);
          if (reply) socket.write(frame(codec.encode(reply)));
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = new ScriptedHost(server, (server.address() as net.AddressInfo).port);
    ref.host = host;
    t.teardown(() => host.close());
    return host;
  }

  mtis(): string[] {
    return this.received.map((r) => r.msg.mti);
  }

  /** Resolves when `count` messages have come (or rejects after timeoutMs). */
  async waitFor(count: number, timeoutMs = 5000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.received.length < count) {
      if (Date.now() > until) throw new Error(`only ${this.received.length} of ${count} messages within ${timeoutMs} ms: ${this.mtis().join(' ')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}

/** A proxy to the switch that forwards everything but the answers `drop` picks; records both directions. */
export class DroppingProxy {
  readonly requests: IsoMessage[] = [];
  readonly dropped: IsoMessage[] = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(t: TestContext, upstreamPort: number, drop: (answer: IsoMessage, proxy: DroppingProxy) => boolean): Promise<DroppingProxy> {
    const codec = new Codec(ascii87);
    const ref: { proxy?: DroppingProxy } = {};
    const server = net.createServer((client) => {
      const proxy = ref.proxy!;
      const up = net.connect({ host: '127.0.0.1', port: upstreamPort });
      for (const s of [client, up]) {
        proxy.sockets.add(s);
        s.on('error', () => {});
        s.on('close', () => {
          proxy.sockets.delete(s);
          client.destroy();
          up.destroy();
        });
      }
      const fromClient = new Framer();
      client.on('data', (chunk: Buffer) => {
        fromClient.push(chunk, (body) => proxy.requests.push(codec.decode(body)));
        up.write(chunk);
      });
      const fromSwitch = new Framer();
      up.on('data', (chunk: Buffer) =>
        fromSwitch.push(chunk, (body) => {
          const m = codec.decode(body);
          if (drop(m, proxy)) proxy.dropped.push(m);
          else client.write(frame(body));
        }),
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const proxy = new DroppingProxy(server, (server.address() as net.AddressInfo).port);
    ref.proxy = proxy;
    t.teardown(() => proxy.close());
    return proxy;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
