/**
 * Every failure as an HTTP answer: bad input 400, no or bad token 401, weak role 403,
 * unknown thing 404, conflict 409, refused by the rules or the ledger 422, cache or
 * database unreachable 503, anything else 500 (logged, never detailed to the caller).
 * Messages pass through `redactPans`, so a PAN that slips into a database message is masked.
 */
import { ZodError } from 'zod';
import { StoreError } from '../db/store.js';
import { LedgerUnavailableError, isConnectionError } from '../db/ledger.js';
import { OUTCOMES, type Outcome } from '../db/outcomes.js';
import { maskPan } from '../protocol/mask.js';
import { CacheUnavailableError } from './cache.js';

export interface ErrorBody {
  error: string;
  message: string;
  [k: string]: unknown;
}

/** An answer decided by the code (auth, readiness). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.message);
    this.name = 'HttpError';
  }
}

/** The ledger declined a back-office operation (it is journaled as declined). */
export class DeclinedError extends Error {
  constructor(
    readonly outcome: Outcome,
    readonly journalId: number,
  ) {
    super(OUTCOMES[outcome]);
    this.name = 'DeclinedError';
  }
}

export type Location = 'body' | 'params' | 'query';

/** A ZodError from one part of the request. */
export class InputError extends Error {
  constructor(
    readonly location: Location,
    readonly zod: ZodError,
  ) {
    super(zod.message);
    this.name = 'InputError';
  }
}

export interface Issue {
  field: string;
  in?: Location;
  message: string;
  /** What failed, for a client that words it itself (the web pages, in French): zod's issue code. */
  code?: string;
  /** The bound a too_small / too_big issue names. */
  limit?: number;
}

/** Database constraints named after the input field they guard. */
const FIELD_OF_CONSTRAINT: Record<string, string> = {
  networks_code_key: 'code',
  clients_code_key: 'code',
  clients_network_id_fkey: 'networkId',
  members_client_id_fkey: 'clientId',
  service_points_code_key: 'code',
  service_points_client_id_fkey: 'clientId',
  terminals_pkey: 'id',
  terminals_service_point_id_fkey: 'servicePointId',
  card_profiles_client_id_fkey: 'clientId',
  card_profiles_client_id_code_key: 'code',
  cards_pan_key: 'pan',
  users_username_key: 'username',
  transaction_codes_service_point_id_fkey: 'servicePointId',
};

export function fieldOf(field: string | undefined): string | undefined {
  return field === undefined ? undefined : (FIELD_OF_CONSTRAINT[field] ?? field);
}

const PAN_IN_TEXT = /\b[0-9]{12,19}\b/g;

export function redactPans(text: string): string {
  return text.replace(PAN_IN_TEXT, (d) => maskPan(d));
}

export function zodIssues(e: ZodError, location?: Location): Issue[] {
  return e.issues.map((i) => {
    const path = i.path.map(String).join('.');
    const keys = i.code === 'unrecognized_keys' ? i.keys.join(',') : '';
    const field = [path, keys].filter(Boolean).join('.') || location || 'input';
    const issue: Issue = location ? { field, in: location, message: i.message, code: i.code } : { field, message: i.message, code: i.code };
    const bound = i.code === 'too_small' ? i.minimum : i.code === 'too_big' ? i.maximum : undefined;
    if (bound !== undefined && Number.isFinite(Number(bound))) issue.limit = Number(bound);
    return issue;
  });
}

function invalidBody(issues: Issue[]): ErrorBody {
  return { error: 'invalid', message: issues.map((i) => `${i.field}: ${i.message}`).join('; '), issues };
}

export interface HttpAnswer {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
  /** Worth an error log line (a fault of ours or of a dependency, not of the caller). */
  fault?: boolean;
}

/** Maps any thrown value to the HTTP answer. */
export function toHttp(e: unknown): HttpAnswer {
  if (e instanceof HttpError) return { status: e.status, body: e.body, headers: e.headers };
  if (e instanceof InputError) return { status: 400, body: invalidBody(zodIssues(e.zod, e.location)) };
  if (e instanceof ZodError) return { status: 400, body: invalidBody(zodIssues(e)) };
  if (e instanceof StoreError) {
    const field = fieldOf(e.field);
    const message = redactPans(e.message);
    if (e.kind === 'not_found') return { status: 404, body: { error: 'not_found', message, ...(field ? { field } : {}) } };
    if (e.kind === 'conflict') return { status: 409, body: { error: 'conflict', message, ...(field ? { field } : {}) } };
    return { status: 422, body: { error: 'unprocessable', message, ...(field ? { field } : {}) } };
  }
  if (e instanceof DeclinedError) return { status: 422, body: { error: 'declined', outcome: e.outcome, message: OUTCOMES[e.outcome], journalId: e.journalId } };
  if (e instanceof CacheUnavailableError) {
    return { status: 503, body: { error: 'cache_unavailable', committed: e.committed, message: e.message }, fault: true };
  }
  if (e instanceof LedgerUnavailableError || isConnectionError(e)) {
    return { status: 503, body: { error: 'database_unavailable', message: 'the database cannot be reached; nothing was changed' }, fault: true };
  }
  const fx = e as { statusCode?: number; code?: string; message?: string };
  if (typeof fx.statusCode === 'number' && fx.statusCode >= 400 && fx.statusCode < 500) {
    // fastify's own refusals: unparsable JSON, wrong content type, body too large
    const message = redactPans(fx.message ?? 'bad request');
    if (fx.statusCode === 400) return { status: 400, body: invalidBody([{ field: 'body', in: 'body', message }]) };
    return { status: fx.statusCode, body: { error: (fx.code ?? 'bad_request').toLowerCase(), message } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error; see the server log' }, fault: true };
}
