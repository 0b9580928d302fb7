/**
 * A batch's transaction on the wire: the extended query protocol spoken directly, so that a
 * transaction of two round trips costs two writes, two flushes and no more.
 *
 * node-pg sends every query as Parse/Bind/Describe/Execute/Sync: each Sync makes the server
 * end a message group, answer ReadyForQuery and flush, and each Describe makes it build a row
 * description, so a round trip of four statements was four server writes and four reads here.
 * An Exchange sends its statements as Bind/Execute (Parse once per connection and name) and
 * ends a round with Flush, which delivers the answers without ending the transaction: every
 * statement up to the Sync that ends the last round runs in one implicit transaction, and that
 * Sync commits it (or rolls it back after an error). No BEGIN, no COMMIT, no SET statements.
 *
 * The rows come without a description: each statement declares its columns (name and kind),
 * and test/db/ledger-wire.test.ts compares them with the server's description of every
 * statement the ledger can build.
 *
 * It is a node-pg "submittable" on a client that is not in pipeline mode: the client hands it
 * the connection and routes the server's messages to it until ReadyForQuery.
 */
import type pg from 'pg';

/**
 * A column's kind; `absent`: a field of the statement's rows that this variant of it does not
 * send (its part of the batch is not there), which the decoder sets to null without a column on
 * the wire: a column costs PostgreSQL about 2,000 instructions per batch (its slot in each plan
 * node's tuple, its output function looked up), whether it holds a value or NULL.
 */
export type ColumnKind = 'int' | 'float' | 'text' | 'bool' | 'absent';
export type Columns = readonly (readonly [name: string, kind: ColumnKind])[];

export interface WireStatement {
  /** The prepared statement's name, the same for the same text. */
  name: string;
  text: string;
  /** Parameters: text, or a Buffer in binary form (the ledger's arrays, ./params.ts); null is NULL. */
  values: readonly (string | Buffer | null)[];
  /** The columns of its rows, in order (none for a statement whose rows are not read). */
  columns: Columns;
}

export type Row = Record<string, string | number | boolean | null>;

export interface StatementResult {
  rows: Row[];
  /** The command tag, e.g. "SELECT 3". */
  command: string;
}

/** What node-pg's Connection offers that an Exchange uses. */
interface Connection {
  stream: { writable: boolean; cork(): void; uncork(): void };
  parse(q: { name: string; text: string; types: number[] }): void;
  bind(c: { statement: string; values: readonly (string | Buffer | null)[] }): void;
  execute(c: Record<string, never>): void;
  close(c: { type: 'S'; name: string }): void;
  flush(): void;
  sync(): void;
}

/** Statements prepared on a connection, by name; names in doubt are closed before being parsed again. */
const prepared = new WeakMap<object, Set<string>>();
const doubtful = new WeakMap<object, Set<string>>();

const setOf = (map: WeakMap<object, Set<string>>, con: object): Set<string> => {
  let s = map.get(con);
  if (s === undefined) {
    s = new Set();
    map.set(con, s);
  }
  return s;
};

/** node-pg's connection under a client: what per-connection state is kept by (it outlives a checkout). */
export function connectionOf(client: pg.PoolClient): object | undefined {
  return (client as unknown as { connection?: object }).connection;
}

/** Forget what was prepared on a client's connection (the server lost its statements). */
export function forgetPrepared(client: pg.PoolClient): void {
  const con = connectionOf(client);
  if (con === undefined) return;
  const known = prepared.get(con);
  if (known === undefined) return;
  const doubt = setOf(doubtful, con);
  for (const name of known) doubt.add(name);
  known.clear();
}

/** A column's text as a safe integer, or the RangeError that names it. */
function int(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`ledger: column ${name} holds ${v}, not a safe integer`);
  return n;
}

type Decoder = (fields: readonly (string | null)[], toInt: typeof int) => Row;
const decoders = new WeakMap<Columns, Decoder>();

/**
 * The decoder of a statement's rows: one object literal with the declared columns, compiled once
 * per statement. Writing the fields by a variable name (row[name] = v) made every store a
 * megamorphic lookup and every row grow its properties one by one; the read statement returns
 * up to 43 fields an item. Names and kinds come from the ledger's own declarations (sql.ts), never
 * from the server.
 */
function compile(columns: Columns): Decoder {
  let i = 0;
  const parts = columns.map(([name, kind]) => {
    const key = JSON.stringify(name);
    if (kind === 'absent') return `${key}: null`;
    const v = `f[${i++}]`;
    switch (kind) {
      case 'int':
        return `${key}: ${v} == null ? null : toInt(${v}, ${key})`;
      case 'float':
        return `${key}: ${v} == null ? null : Number(${v})`;
      case 'bool':
        return `${key}: ${v} == null ? null : ${v} === 't'`;
      default:
        return `${key}: ${v} == null ? null : ${v}`;
    }
  });
  return new Function('f', 'toInt', `return { ${parts.join(', ')} };`) as Decoder;
}

/** A row's fields, in text form, as the statement's declared columns say. */
export function decode(columns: Columns, fields: readonly (string | null)[]): Row {
  let d = decoders.get(columns);
  if (d === undefined) {
    d = compile(columns);
    decoders.set(columns, d);
  }
  return d(fields, int);
}

/**
 * A batch's transaction as the posting uses it: a first round sent at once, then the last round,
 * whose answer means the transaction committed, or an end without a write. The Exchange below is
 * the ledger's; bench/ledger-transports.ts puts pg's pipeline mode and the postgres package
 * behind the same shape to compare them on the same statements.
 */
export interface Rounds {
  /** The first round's results, in statement order. */
  first: Promise<StatementResult[]>;
  /** The last round; resolves once the server has committed. */
  commit(statements: WireStatement[]): Promise<StatementResult[]>;
  /** Ends the transaction without a write. */
  abandon(): void;
}

/** Opens a batch's transaction on a client checked out of the ledger's pool. */
export type Transport = (client: pg.PoolClient, first: WireStatement[]) => Rounds;

/** The ledger's own: the extended protocol by hand (below), two writes and two reads a batch. */
export const exchangeTransport: Transport = (client, first) => {
  const { exchange, results } = Exchange.start(client, first);
  return { first: results, commit: (statements) => exchange.commit(statements), abandon: () => exchange.abandon() };
};

interface Waiting {
  resolve(r: StatementResult[]): void;
  reject(e: unknown): void;
}

/**
 * One transaction: `start` sends the first round (ended by Flush), `next` the following ones,
 * `commit` the last (ended by Sync); `abandon` ends it without writing (Sync after reads and
 * row locks only). Each returns the results of its round's statements, in order; an error
 * fails the round and the transaction.
 */
export class Exchange {
  private connection: Connection | undefined;
  private round: WireStatement[];
  private index = 0;
  private rows: Row[] = [];
  private results: StatementResult[] = [];
  private waiting: Waiting | undefined;
  private synced = false;
  private failed: unknown;
  private parsedThisRound: string[] = [];

  private constructor(statements: WireStatement[]) {
    this.round = statements;
  }

  /** Sends the first round on the client (idle, not in pipeline mode) and returns its results. */
  static start(client: pg.PoolClient, statements: WireStatement[]): { exchange: Exchange; results: Promise<StatementResult[]> } {
    const x = new Exchange(statements);
    const results = x.wait();
    (client as unknown as { query(s: unknown): void }).query(x);
    return { exchange: x, results };
  }

  /** Another round inside the transaction. */
  next(statements: WireStatement[]): Promise<StatementResult[]> {
    return this.send(statements, false);
  }

  /** The last round; resolves once the server has committed. */
  commit(statements: WireStatement[]): Promise<StatementResult[]> {
    return this.send(statements, true);
  }

  /** Ends the transaction without a write (it held reads and row locks only). */
  abandon(): void {
    if (this.synced || this.connection === undefined) return;
    this.synced = true;
    if (this.connection.stream.writable) this.connection.sync();
  }

  // --- node-pg's submittable interface ---

  submit(connection: Connection): void {
    this.connection = connection;
    this.write(false);
  }

  handleRowDescription(): void {}

  handleDataRow(msg: { fields: (string | null)[] }): void {
    if (this.failed !== undefined) return;
    try {
      this.rows.push(decode(this.round[this.index].columns, msg.fields));
    } catch (e) {
      this.handleError(e);
    }
  }

  handleCommandComplete(msg: { text: string }): void {
    if (this.failed !== undefined) return;
    this.results.push({ rows: this.rows, command: msg.text });
    this.rows = [];
    this.index++;
    if (this.index === this.round.length && !this.synced) this.settle();
  }

  handleEmptyQuery(): void {
    this.handleCommandComplete({ text: '' });
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(): void {}

  handleCopyData(): void {}

  /** A server error (the client then stops routing messages here) or the connection's loss. */
  handleError(err: unknown): void {
    const con = this.connection;
    if (con !== undefined) {
      // A Parse in a failed round may not have happened: close the name before the next Parse.
      const doubt = setOf(doubtful, con);
      const known = setOf(prepared, con);
      for (const name of this.parsedThisRound) {
        known.delete(name);
        doubt.add(name);
      }
      // The server skips everything up to a Sync after an error: send it, so that the
      // connection answers ReadyForQuery and the client can be used again.
      if (!this.synced && con.stream.writable) {
        this.synced = true;
        con.sync();
      }
    }
    this.fail(err);
  }

  handleReadyForQuery(): void {
    if (this.failed === undefined) this.settle();
  }

  // ---

  private wait(): Promise<StatementResult[]> {
    return new Promise<StatementResult[]>((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }

  private send(statements: WireStatement[], sync: boolean): Promise<StatementResult[]> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.connection === undefined || this.synced || this.waiting !== undefined) return Promise.reject(new Error('ledger: exchange used out of turn'));
    // a connection error reaches handleError too, but a socket closed between rounds may not have yet
    if (!this.connection.stream.writable) return Promise.reject(new Error('Connection terminated: the ledger exchange lost its connection'));
    this.round = statements;
    const p = this.wait();
    this.write(sync);
    return p;
  }

  private write(sync: boolean): void {
    const con = this.connection as Connection;
    this.index = 0;
    this.rows = [];
    this.results = [];
    this.parsedThisRound = [];
    const known = setOf(prepared, con);
    const doubt = doubtful.get(con);
    con.stream.cork();
    try {
      for (const s of this.round) {
        if (!known.has(s.name)) {
          if (doubt?.delete(s.name) === true) con.close({ type: 'S', name: s.name });
          con.parse({ name: s.name, text: s.text, types: [] });
          known.add(s.name);
          this.parsedThisRound.push(s.name);
        }
        con.bind({ statement: s.name, values: s.values });
        con.execute({});
      }
      if (sync) {
        this.synced = true;
        con.sync();
      } else con.flush();
    } finally {
      con.stream.uncork();
    }
  }

  private settle(): void {
    const w = this.waiting;
    this.waiting = undefined;
    if (w === undefined) return;
    if (this.index !== this.round.length) {
      this.fail(new Error(`ledger: ${this.round.length - this.index} statements of the round unanswered`));
      return;
    }
    w.resolve(this.results);
  }

  private fail(e: unknown): void {
    this.failed ??= e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(this.failed);
  }
}
