/** A page as data, like the API's routes: method, path, access level, handler. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Services } from '../route.js';
import type { Access } from '../roles.js';
import type { WebCtx } from './context.js';
import type { Html } from './jsx.js';

export type PageResult = Html | { redirect: string } | { fragment: Html };

export interface PageRequest {
  ctx: WebCtx;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: Record<string, string | undefined>;
  services: Services;
  req: FastifyRequest;
  reply: FastifyReply;
}

export interface Page {
  method: 'GET' | 'POST';
  url: string;
  /** 'anyone': signed out too (the sign-in page); any other: signed in with that level. */
  access: Access | 'anyone';
  /** Requests per minute per address (sign-in). */
  rateLimit?: number;
  handle(p: PageRequest): Promise<PageResult>;
}

export const redirect = (to: string): PageResult => ({ redirect: to });

/** A form's text field: one value (a repeated field keeps its last), trimmed. */
export function field(body: Record<string, string | undefined>, name: string): string | undefined {
  const v = body[name] as unknown;
  const s = Array.isArray(v) ? (v[v.length - 1] as unknown) : v;
  return typeof s === 'string' ? s.trim() : undefined;
}

/** A form's number: digits become a number; anything else stays as typed, for zod to name it. */
export function numberField(body: Record<string, string | undefined>, name: string): unknown {
  const s = field(body, name);
  if (s === undefined || s === '') return undefined;
  const plain = s.replace(/[\s\u00a0\u202f]/g, '');
  return /^[0-9]{1,16}$/.test(plain) ? Number(plain) : s;
}

/** A list's window from the query: limit 1..100 (default 25), offset >= 0. */
export function pageOf(query: Record<string, string | undefined>): { limit: number; offset: number } {
  const limit = Math.min(100, Math.max(1, Number.parseInt(query.limit ?? '', 10) || 25));
  const offset = Math.min(1_000_000_000, Math.max(0, Number.parseInt(query.offset ?? '', 10) || 0));
  return { limit, offset };
}
