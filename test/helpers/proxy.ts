/**
 * A loopback TCP proxy a test can cut and restore, to take PostgreSQL or Redis away from a
 * switch without stopping the shared servers other tests use.
 */
import net from 'node:net';

export class CuttableProxy {
  private server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private up = true;
  port = 0;

  private constructor(private readonly targetHost: string, private readonly targetPort: number) {
    this.server = net.createServer((client) => {
      if (!this.up) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetHost: string, targetPort: number): Promise<CuttableProxy> {
    const p = new CuttableProxy(targetHost, targetPort);
    await new Promise<void>((r) => p.server.listen(0, '127.0.0.1', () => r()));
    p.port = (p.server.address() as net.AddressInfo).port;
    return p;
  }

  /** Drops every connection and refuses new ones (as a stopped server would). */
  cut(): void {
    this.up = false;
    for (const s of this.sockets) s.destroy();
  }

  restore(): void {
    this.up = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
