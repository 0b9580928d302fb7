/** Back-office users: create, read, list, disable, set a password, sign in (with lock-out). */
import { type Db, type Page, inTx, many, one } from './common.js';

export type Role = 'ADMIN' | 'OPERATOR' | 'VIEWER';

export interface User {
  id: number;
  username: string;
  role: Role;
  disabled: boolean;
}

export function createUser(db: Db, u: { username: string; role: Role; passwordHash?: string | null }): Promise<User> {
  return one<User>(db, 'user', 'INSERT INTO users (username, role, password_hash) VALUES ($1, $2, $3) RETURNING id, username, role, disabled', [
    u.username,
    u.role,
    u.passwordHash ?? null,
  ]);
}

/** Sets a user's password (its scrypt hash) and lifts a lock-out. */
export function setPasswordHash(db: Db, userId: number, passwordHash: string): Promise<User> {
  return one<User>(
    db,
    'user',
    'UPDATE users SET password_hash = $2, failed_signins = 0, locked_until = NULL WHERE id = $1 RETURNING id, username, role, disabled',
    [userId, passwordHash],
  );
}

export type SignIn = { ok: true; user: User } | { ok: false; reason: 'wrong' } | { ok: false; reason: 'locked'; lockedUntil: Date };

export interface SignInPolicy {
  /** Failed sign-ins in a row that lock the account. */
  maxFailures: number;
  lockSeconds: number;
}

/**
 * A sign-in attempt. The user's row is locked while the password is checked, so concurrent
 * guesses are counted one after the other; `maxFailures` wrong ones in a row lock the account
 * for `lockSeconds`, during which even the right password is refused. An unknown or disabled
 * user is "wrong" like a wrong password, after the same scrypt cost.
 */
export function signIn(db: Db, username: string, check: (hash: string | null) => Promise<boolean>, policy: SignInPolicy): Promise<SignIn> {
  return inTx(db, async (tx) => {
    const r = await tx.query<User & { password_hash: string | null; locked: boolean; locked_until: Date | null }>(
      `SELECT id, username, role, disabled, password_hash, locked_until, coalesce(locked_until > now(), false) AS locked
       FROM users WHERE username = $1 FOR UPDATE`,
      [username],
    );
    const u = r.rows[0];
    if (u?.locked && u.locked_until) return { ok: false, reason: 'locked', lockedUntil: u.locked_until };
    const good = await check(u?.password_hash ?? null);
    if (!u) return { ok: false, reason: 'wrong' };
    if (good && !u.disabled) {
      await tx.query('UPDATE users SET failed_signins = 0, locked_until = NULL WHERE id = $1', [u.id]);
      return { ok: true, user: { id: u.id, username: u.username, role: u.role, disabled: u.disabled } };
    }
    const f = await tx.query<{ locked_until: Date | null }>(
      `UPDATE users SET
         locked_until = CASE WHEN failed_signins + 1 >= $2 THEN now() + make_interval(secs => $3) END,
         failed_signins = CASE WHEN failed_signins + 1 >= $2 THEN 0 ELSE failed_signins + 1 END
       WHERE id = $1 RETURNING locked_until`,
      [u.id, policy.maxFailures, policy.lockSeconds],
    );
    const until = f.rows[0]?.locked_until;
    return until ? { ok: false, reason: 'locked', lockedUntil: until } : { ok: false, reason: 'wrong' };
  });
}

const USER_COLUMNS = 'id, username, role, disabled';

export function getUser(db: Db, id: number): Promise<User> {
  return one<User>(db, 'user', `SELECT ${USER_COLUMNS} FROM users WHERE id = $1`, [id]);
}

export function getUserByUsername(db: Db, username: string): Promise<User> {
  return one<User>(db, 'user', `SELECT ${USER_COLUMNS} FROM users WHERE username = $1`, [username]);
}

export function listUsers(db: Db, page: Page): Promise<User[]> {
  return many<User>(db, `SELECT ${USER_COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2`, [page.limit, page.offset]);
}

/** Disables or re-enables a user: a disabled user's tokens stop authenticating at once. */
export function setUserDisabled(db: Db, id: number, disabled: boolean): Promise<User> {
  return one<User>(db, 'user', `UPDATE users SET disabled = $2 WHERE id = $1 RETURNING ${USER_COLUMNS}`, [id, disabled]);
}

export async function countUsers(db: Db, role?: Role): Promise<number> {
  const r = await db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM users WHERE ($1::text IS NULL OR role = $1) AND NOT disabled', [role ?? null]);
  return r.rows[0].n;
}
