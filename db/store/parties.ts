/** Networks (réseaux), clients (établissements, with their funding accounts) and their members (bénéficiaires). */
import { type Db, type Page, inTx, many, one } from './common.js';

export interface Network {
  id: number;
  code: string;
  name: string;
}

export function createNetwork(db: Db, n: { code: string; name: string }): Promise<Network> {
  return one<Network>(db, 'network', 'INSERT INTO networks (code, name) VALUES ($1, $2) RETURNING id, code, name', [n.code, n.name]);
}

export function getNetwork(db: Db, id: number): Promise<Network> {
  return one<Network>(db, 'network', 'SELECT id, code, name FROM networks WHERE id = $1', [id]);
}

export function listNetworks(db: Db, page: Page): Promise<Network[]> {
  return many<Network>(db, 'SELECT id, code, name FROM networks ORDER BY id LIMIT $1 OFFSET $2', [page.limit, page.offset]);
}

export interface Client {
  id: number;
  code: string;
  name: string;
  network_id: number | null;
  funding_account_id: number;
}

/** A client and its funding account (the source of its recharges). */
export function createClient(db: Db, c: { code: string; name: string; networkId?: number | null }): Promise<Client> {
  return inTx(db, async (tx) => {
    const client = await one<Omit<Client, 'funding_account_id'>>(
      tx,
      'client',
      'INSERT INTO clients (code, name, network_id) VALUES ($1, $2, $3) RETURNING id, code, name, network_id',
      [c.code, c.name, c.networkId ?? null],
    );
    const acct = await one<{ id: number }>(tx, 'funding account', "INSERT INTO accounts (kind, client_id) VALUES ('funding', $1) RETURNING id", [client.id]);
    return { ...client, funding_account_id: acct.id };
  });
}

export function getClient(db: Db, id: number): Promise<Client> {
  return one<Client>(
    db,
    'client',
    `SELECT c.id, c.code, c.name, c.network_id, a.id AS funding_account_id
     FROM clients c JOIN accounts a ON a.client_id = c.id AND a.kind = 'funding' WHERE c.id = $1`,
    [id],
  );
}

export function listClients(db: Db, f: { networkId?: number }, page: Page): Promise<Client[]> {
  return many<Client>(
    db,
    `SELECT c.id, c.code, c.name, c.network_id, a.id AS funding_account_id
     FROM clients c JOIN accounts a ON a.client_id = c.id AND a.kind = 'funding'
     WHERE ($1::bigint IS NULL OR c.network_id = $1) ORDER BY c.id LIMIT $2 OFFSET $3`,
    [f.networkId ?? null, page.limit, page.offset],
  );
}

/** A card holder: a member of the client, or a beneficiary of it. */
export type HolderKind = 'member' | 'beneficiary';

export interface Member {
  id: number;
  client_id: number;
  name: string;
  kind: HolderKind;
  email: string | null;
  phone: string | null;
}

export function createMember(db: Db, m: { clientId: number; name: string; kind?: HolderKind; email?: string | null; phone?: string | null }): Promise<Member> {
  return one<Member>(
    db,
    'member',
    'INSERT INTO members (client_id, name, kind, email, phone) VALUES ($1, $2, $3, $4, $5) RETURNING id, client_id, name, kind, email, phone',
    [m.clientId, m.name, m.kind ?? 'member', m.email ?? null, m.phone ?? null],
  );
}

const MEMBER_COLUMNS = 'id, client_id, name, kind, email, phone';

export function getMember(db: Db, id: number): Promise<Member> {
  return one<Member>(db, 'member', `SELECT ${MEMBER_COLUMNS} FROM members WHERE id = $1`, [id]);
}

export function listMembers(db: Db, clientId: number, page: Page): Promise<Member[]> {
  return many<Member>(db, `SELECT ${MEMBER_COLUMNS} FROM members WHERE client_id = $1 ORDER BY id LIMIT $2 OFFSET $3`, [clientId, page.limit, page.offset]);
}
