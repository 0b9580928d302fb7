/** Users' bearer tokens: issue (shown once, stored as SHA-256), revoke, authenticate. */
import { newToken, tokenHash } from '../secrets.js';
import { type Db, one } from './common.js';
import type { User } from './users.js';

/** A bearer token for a user, shown once; stored as SHA-256. ttlSeconds null: no expiry (the back office always gives one). */
export async function createToken(db: Db, t: { userId: number; label?: string; ttlSeconds?: number | null }): Promise<{ id: number; token: string; expiresAt: Date | null }> {
  const token = newToken();
  const r = await one<{ id: number; expires_at: Date | null }>(
    db,
    'token',
    `INSERT INTO tokens (user_id, token_hash, label, expires_at)
     VALUES ($1, $2, $3, CASE WHEN $4::int IS NULL THEN NULL ELSE now() + make_interval(secs => $4::int) END) RETURNING id, expires_at`,
    [t.userId, tokenHash(token), t.label ?? null, t.ttlSeconds ?? null],
  );
  return { id: r.id, token, expiresAt: r.expires_at };
}

export async function revokeToken(db: Db, tokenId: number): Promise<void> {
  await one(db, 'token', 'UPDATE tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id', [tokenId]);
}

/** The user a bearer token belongs to, if the token is known, unexpired, unrevoked and the user enabled. */
export async function authenticate(db: Db, token: string): Promise<(User & { tokenId: number }) | null> {
  const r = await db.query<User & { tokenId: number }>(
    `SELECT u.id, u.username, u.role, u.disabled, t.id AS "tokenId" FROM tokens t JOIN users u ON u.id = t.user_id
     WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) AND NOT u.disabled`,
    [tokenHash(token)],
  );
  return r.rows[0] ?? null;
}
