/**
 * Bearer tokens: `Authorization: Bearer <token>`, looked up by hash (store.authenticate).
 * No header, an unknown, expired or revoked token, or a disabled user: 401. A role below
 * the route's access level (roles.ts): 403.
 */
import type { Db } from '../db/store.js';
import * as store from '../db/store.js';
import type { Actor } from './actor.js';
import { HttpError } from './errors.js';
import { allows, requiredRole, type Access } from './roles.js';

const BEARER = /^Bearer\s+(\S{1,512})\s*$/i;
const CHALLENGE = { 'www-authenticate': 'Bearer realm="cynod back office"' };

function unauthorized(message: string): HttpError {
  return new HttpError(401, { error: 'unauthorized', message }, CHALLENGE);
}

export async function authenticateHeader(db: Db, header: string | undefined): Promise<Actor> {
  if (!header) throw unauthorized('an Authorization: Bearer <token> header is required');
  const m = BEARER.exec(header);
  if (!m) throw unauthorized('the Authorization header must be "Bearer <token>"');
  const user = await store.authenticate(db, m[1]);
  if (!user) throw unauthorized('the token is unknown, expired or revoked, or its user is disabled');
  return { userId: user.id, username: user.username, role: user.role, via: 'api', tokenId: user.tokenId };
}

export function authorize(actor: Actor, access: Access): void {
  if (actor.role === null || !allows(actor.role, access)) {
    throw new HttpError(403, { error: 'forbidden', message: `this needs the ${requiredRole(access)} role; ${actor.username} is ${actor.role ?? 'no role'}` });
  }
}
