/**
 * Where @fastify/session keeps the web sessions: table web_sessions, so that sessions survive a
 * restart and are shared by several back-office processes. The cookie carries the signed id only.
 */
import type { Session } from 'fastify';
import type { Pool } from '../../db/pool.js';

type Callback = (err?: unknown) => void;
type GetCallback = (err: unknown, session?: Session | null) => void;

/** Expired rows are deleted by one write in this many (a cheap sweep without a timer). */
const SWEEP_EVERY = 200;

export class PgSessionStore {
  private writes = 0;

  constructor(
    private readonly pool: Pool,
    private readonly ttlSeconds: number,
  ) {}

  set(id: string, session: Session, cb: Callback): void {
    const sweep = ++this.writes % SWEEP_EVERY === 0 ? this.pool.query('DELETE FROM web_sessions WHERE expires_at < now()') : Promise.resolve();
    sweep
      .then(() =>
        this.pool.query(
          `INSERT INTO web_sessions (id, data, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data`,
          [id, JSON.stringify(session), this.ttlSeconds],
        ),
      )
      .then(() => cb(), cb);
  }

  get(id: string, cb: GetCallback): void {
    this.pool.query<{ data: Session }>('SELECT data FROM web_sessions WHERE id = $1 AND expires_at > now()', [id]).then(
      (r) => cb(null, r.rows[0]?.data ?? null),
      (e: unknown) => cb(e),
    );
  }

  destroy(id: string, cb: Callback): void {
    this.pool.query('DELETE FROM web_sessions WHERE id = $1', [id]).then(() => cb(), cb);
  }
}
