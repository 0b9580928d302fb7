/** What a page knows of its request: language, signed-in user, CSRF token, where it is. */
import type { FastifyRequest } from 'fastify';
import type * as store from '../../db/store.js';
import type { Actor } from '../actor.js';
import { toHttp } from '../errors.js';
import { allows, type Access } from '../roles.js';
import type { Lang, Msg, Translate } from './i18n.js';

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
export function refusal(e: unknown, t: Translate): { status: number; fields: FieldErrors; message: string } {
  const a = toHttp(e);
  if (a.status >= 500 || a.status === 401 || a.status === 403) throw e;
  const fields: FieldErrors = {};
  const issues = (a.body.issues as { field: string; message: string; code?: string; limit?: number }[] | undefined) ?? [];
  for (const i of issues) fields[i.field.split('.')[0]] ??= issueText(i, t);
  const f = a.body.field;
  if (typeof f === 'string') fields[f] = a.body.message;
  return { status: a.status, fields, message: issues.length > 0 ? t('formInvalid') : a.body.message };
}

/** A validation issue in the page's language: by its code; the API's own words for a rule of ours. */
function issueText(i: { message: string; code?: string; limit?: number }, t: Translate): string {
  const key = ISSUE_TEXT[i.code ?? ''];
  if (key === undefined) return i.message;
  if (i.code === 'too_small' && i.limit !== undefined && i.limit <= 1) return t('issueRequired');
  return t(key, { limit: i.limit ?? '' });
}

const ISSUE_TEXT: Record<string, Msg | undefined> = {
  invalid_type: 'issueInvalidType',
  too_small: 'issueTooSmall',
  too_big: 'issueTooBig',
  invalid_format: 'issueInvalidFormat',
  invalid_value: 'issueInvalidValue',
  not_multiple_of: 'issueInvalidValue',
  unrecognized_keys: 'issueUnknownField',
};
