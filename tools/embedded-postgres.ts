/**
 * The embedded PostgreSQL of `make demo` on a machine without one: PGlite (PostgreSQL compiled
 * to WebAssembly) served over the PostgreSQL wire protocol by pglite-socket, so the rest of
 * the code keeps talking to it with `pg` as to any server.
 *
 * It has a single session, shared by every connection, and takes one connection at a time:
 * pools must have max 1 and be shared (the demo gives the switch and the back office the same
 * pool). Startup options are ignored; the schema is found because migrate() leaves the
 * session's search_path on it. The data lives in a directory, so a second run keeps it.
 */
import { mkdirSync } from 'node:fs';

export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

export async function startEmbeddedPostgres(dataDir: string, port = 0, host = '127.0.0.1'): Promise<EmbeddedPostgres> {
  mkdirSync(dataDir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(dataDir);
  const net = await import('node:net');
  const chosen =
    port ||
    (await new Promise<number>((resolve) => {
      const s = net.createServer();
      s.listen(0, host, () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    }));
  const server = new PGLiteSocketServer({ db, port: chosen, host, maxConnections: 4 });
  await server.start();
  return {
    url: `postgres://postgres@${host}:${chosen}/postgres`,
    dataDir,
    stop: async () => {
      await server.stop();
      await db.close();
    },
  };
}
