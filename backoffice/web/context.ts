/** What a page knows of its request: language, signed-in user, CSRF token, where it is. */
import type { FastifyRequest } from 'fastify';
import type * as store from '../../db/store.js';
import type { Actor } from '../actor.js';
import { toHttp } from '../errors.js';
import { allows, type Access } from '../roles.js';
import type { Lang, Translate } from './i18n.js';

export interface WebCtx {
  lang: Lang;
  t: Translate;
  user: store.User | null;
  /** The CSRF token every form carries (empty for a page without forms). */
  csrf: string;
  /** The path of the page, without its query. */
  path: string;
}

/** The session cookie is Secure when the request came over TLS (directly, or through a trusted proxy). */
export function secureBehindTls(req: FastifyRequest): void {
  if (req.protocol === 'https') req.session.cookie.secure = true;
}

export function can(ctx: WebCtx, access: Access): boolean {
  return ctx.user !== null && allows(ctx.user.role, access);
}

export function actorOf(ctx: WebCtx): Actor {
  if (!ctx.user) throw new Error('page has no signed-in user');
  return { userId: ctx.user.id, username: ctx.user.username, role: ctx.user.role, via: 'web' };
}

/** Field name -> message, from a refused write (shown next to each field). */
export type FieldErrors = Record<string, string>;

/**
 * A refused write as the form shows it: each field's message (the API's validation issues, or
 * the field a store or ledger refusal names) and a line for the whole form. A fault (5xx) or
 * an auth refusal is not a form error: it is thrown again, to the error page.
 */
export function refusal(e: unknown): { status: number; fields: FieldErrors; message: string } {
  const a = toHttp(e);
  if (a.status >= 500 || a.status === 401 || a.status === 403) throw e;
  const fields: FieldErrors = {};
  for (const i of (a.body.issues as { field: string; message: string }[] | undefined) ?? []) fields[i.field.split('.')[0]] ??= i.message;
  const f = a.body.field;
  if (typeof f === 'string') fields[f] = a.body.message;
  return { status: a.status, fields, message: a.body.message };
}
