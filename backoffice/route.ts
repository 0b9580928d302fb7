/**
 * A route as data: method, path, access level, zod schemas of its parts and of its answer,
 * and a handler. app.ts registers the table; openapi.ts documents the same table.
 */
import type { z } from 'zod';
import type { Pool } from '../db/pool.js';
import type { Actor } from './actor.js';
import type { Operations } from './operations.js';
import type { Access } from './roles.js';

export type Method = 'GET' | 'POST' | 'DELETE';

/** What a handler can reach besides its request. */
export interface Services {
  pool: Pool;
  ops: Operations;
  /** Whether Redis answers a PING (readiness). */
  redisReady(): Promise<boolean>;
  openapi(): Record<string, unknown>;
}

type Part = z.ZodType | undefined;
type Parsed<S extends Part> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteContext<P extends Part, Q extends Part, B extends Part> {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  /** The authenticated caller; null only on public routes. */
  actor: Actor | null;
  services: Services;
}

interface RouteDef<P extends Part, Q extends Part, B extends Part, R extends z.ZodType> {
  method: Method;
  url: string;
  access: Access;
  tag: string;
  summary: string;
  params?: P;
  query?: Q;
  /** An absent body is read as {}. */
  body?: B;
  /** Status of a success (200 unless said). */
  status?: number;
  response: R;
  handle(ctx: RouteContext<P, Q, B>): Promise<z.input<R>>;
}

export interface Route {
  method: Method;
  url: string;
  access: Access;
  tag: string;
  summary: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  status: number;
  response: z.ZodType;
  handle(ctx: RouteContext<z.ZodType, z.ZodType, z.ZodType>): Promise<unknown>;
}

/** Declares a route with its handler typed from its schemas. */
export function route<R extends z.ZodType, P extends Part = undefined, Q extends Part = undefined, B extends Part = undefined>(
  def: RouteDef<P, Q, B, R>,
): Route {
  return { ...def, status: def.status ?? 200 } as unknown as Route;
}

/** The actor of a route that is not public (auth ran before the handler). */
export function actorOf(ctx: { actor: Actor | null }): Actor {
  if (!ctx.actor) throw new Error('route has no authenticated actor');
  return ctx.actor;
}
