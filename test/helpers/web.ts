/**
 * A browser-less client of the web pages for a test file: a cookie jar over app.inject, the
 * CSRF token read from the last page's forms, form posts, and a signed-in user per role.
 */
import type { FastifyInstance } from 'fastify';
import { hashPassword } from '../../db/secrets.js';
import * as store from '../../db/store.js';
import type { Role } from '../../db/store.js';
import type { Backoffice } from './backoffice.js';

export interface Page {
  status: number;
  body: string;
  headers: Record<string, unknown>;
  location?: string;
}

/** The password the tests give every role's user. */
export const PASSWORD = 'a long test password';

export class WebClient {
  private cookies = new Map<string, string>();
  csrf = '';

  constructor(private readonly app: FastifyInstance) {}

  private remember(headers: Record<string, unknown>): void {
    const set = headers['set-cookie'];
    for (const c of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = String(c).split(';');
      const i = pair.indexOf('=');
      this.cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
  }

  private cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: 'GET' | 'POST', url: string, form?: Record<string, string>, headers: Record<string, string> = {}): Promise<Page> {
    const res = await this.app.inject({
      method,
      url,
      headers: { cookie: this.cookieHeader(), ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...headers },
      ...(form ? { payload: new URLSearchParams(form).toString() } : {}),
    });
    this.remember(res.headers);
    const m = /name="_csrf" value="([^"]*)"/.exec(res.body);
    if (m) this.csrf = m[1];
    return { status: res.statusCode, body: res.body, headers: res.headers, location: res.headers.location as string | undefined };
  }

  get(url: string): Promise<Page> {
    return this.request('GET', url);
  }

  /** A form post with the CSRF token of the last page read (unless the form gives its own). */
  post(url: string, form: Record<string, string> = {}): Promise<Page> {
    return this.request('POST', url, { _csrf: this.csrf, ...form });
  }

  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }

  async signIn(username: string, password = PASSWORD): Promise<Page> {
    await this.get('/connexion');
    return this.post('/connexion', { username, password });
  }
}

/** Gives each role's user of the back office PASSWORD. */
export async function withPasswords(h: Backoffice): Promise<void> {
  const hash = await hashPassword(PASSWORD);
  for (const role of ['ADMIN', 'OPERATOR', 'VIEWER'] as Role[]) await store.setPasswordHash(h.pool, h.users[role].id, hash);
}

export async function signedIn(h: Backoffice, role: Role): Promise<WebClient> {
  const c = new WebClient(h.app);
  const r = await c.signIn(role.toLowerCase());
  if (r.status !== 303) throw new Error(`sign-in as ${role} failed: ${r.status} ${r.body.slice(0, 300)}`);
  return c;
}
