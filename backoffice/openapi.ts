/**
 * The OpenAPI 3.1 document, built from the route table and its zod schemas
 * (z.toJSONSchema, JSON Schema 2020-12 as OpenAPI 3.1 uses).
 */
import { z } from 'zod';
import { requiredRole } from './roles.js';
import type { Route } from './route.js';
import { ErrorView } from './schemas.js';

type Json = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Json;
  return rest;
}

/** Path and query parameters from a zod object. */
function parameters(schema: z.ZodType | undefined, where: 'path' | 'query'): Json[] {
  if (!schema) return [];
  const s = jsonSchema(schema, 'input') as { properties?: Record<string, Json>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, p]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: p,
    ...(typeof p.description === 'string' ? { description: p.description } : {}),
  }));
}

const ERRORS: Record<string, string> = {
  '400': 'invalid input: `issues` names each failing field',
  '401': 'no token, or an unknown, expired or revoked one, or a disabled user',
  '403': 'the role is too weak for this route',
  '404': 'not found',
  '409': 'conflict (already exists)',
  '422': 'refused by the rules, or declined by the ledger (`outcome`)',
  '503': 'PostgreSQL or Redis unreachable (`committed` says whether the change was made)',
};

const PUBLIC_ERRORS = ['503'];

export function buildOpenApi(routes: readonly Route[], info: { title: string; version: string }): Json {
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const role = requiredRole(r.access);
    const errors = role === null ? PUBLIC_ERRORS : Object.keys(ERRORS).filter((c) => r.method !== 'GET' || !['409', '422'].includes(c));
    const op: Json = {
      tags: [r.tag],
      summary: r.summary,
      operationId: `${r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(role === null ? { security: [] } : { description: `Needs the ${role} role (or stronger).`, 'x-required-role': role }),
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(r.body ? { requestBody: { required: false, content: { 'application/json': { schema: jsonSchema(r.body, 'input') } } } } : {}),
      responses: {
        [String(r.status)]: { description: 'success', content: { 'application/json': { schema: jsonSchema(r.response, 'output') } } },
        ...Object.fromEntries(errors.map((c) => [c, { description: ERRORS[c], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }])),
      },
    };
    (paths[path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: { ...info, description: 'cynod switch back office: clients, service points, terminals, card profiles, cards and the /carte/* card operations.' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a token from `cli token <username>` or POST /users/{id}/tokens' } },
      schemas: { Error: jsonSchema(ErrorView, 'output') },
    },
    paths,
  };
}
