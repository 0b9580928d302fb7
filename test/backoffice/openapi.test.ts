/**
 * The OpenAPI document: public, 3.1, every route of the table with its role, parameters and
 * schemas, generated from the same zod schemas that validate requests.
 */
import t from 'tap';
import { ROUTES } from '../../backoffice/routes/index.js';
import { requiredRole } from '../../backoffice/roles.js';
import { backoffice } from '../helpers/backoffice.js';

interface Op {
  'x-required-role'?: string;
  security?: unknown[];
  parameters: { name: string; in: string; required: boolean }[];
  requestBody?: { content: { 'application/json': { schema: { properties: Record<string, { type?: string; maximum?: number }>; required?: string[] } } } };
  responses: Record<string, { content: { 'application/json': { schema: { properties?: Record<string, unknown> } } } }>;
}

t.test('GET /openapi.json documents every route', async (t) => {
  const h = await backoffice(t);
  const r = await h.call(null, 'GET', '/openapi.json');
  t.equal(r.status, 200);
  const doc = r.body as { openapi: string; paths: Record<string, Record<string, Op>>; components: { securitySchemes: Record<string, { scheme: string }> } };
  t.equal(doc.openapi, '3.1.0');
  t.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
  for (const route of ROUTES) {
    const path = route.url.replace(/:([A-Za-z]+)/g, '{$1}');
    const op = doc.paths[path]?.[route.method.toLowerCase()];
    t.ok(op, `${route.method} ${path} documented`);
    if (!op) continue;
    const role = requiredRole(route.access);
    if (role) t.equal(op['x-required-role'], role, `${route.method} ${path}: needs ${role}`);
    else t.same(op.security, [], `${route.method} ${path}: public`);
    t.ok(op.responses[String(route.status)], `${route.method} ${path}: documents its ${route.status}`);
    for (const name of [...route.url.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1])) {
      t.ok(op.parameters.some((p) => p.name === name && p.in === 'path' && p.required), `${route.method} ${path}: path parameter ${name}`);
    }
  }
  const recharge = doc.paths['/carte/cards/{id}/recharge'].post;
  const body = recharge.requestBody?.content['application/json'].schema;
  t.same(body?.required, ['amount'], 'recharge needs an amount');
  t.equal(body?.properties.amount.type, 'integer');
  t.equal(body?.properties.amount.maximum, 999_999_999_999, 'the DE4 ceiling, from the zod schema');
  t.ok(recharge.responses['422'], 'declines documented');
  const created = doc.paths['/cards'].post.responses['201'].content['application/json'].schema.properties ?? {};
  t.ok('pan' in created && 'panMasked' in created, 'card creation shows the PAN once');
  const read = doc.paths['/carte/cards/{id}'].get.responses['200'].content['application/json'].schema.properties ?? {};
  t.notOk('pan' in read, 'reading a card does not');
  t.ok(doc.paths['/cards'].get.parameters.some((p) => p.name === 'limit' && p.in === 'query' && !p.required), 'query parameters');
});

t.test('health is public and says ok', async (t) => {
  const h = await backoffice(t);
  const r = await h.call(null, 'GET', '/healthz');
  t.equal(r.status, 200);
  t.same(r.body, { status: 'ok' });
  const ready = await h.call(null, 'GET', '/readyz');
  t.same(ready.body, { status: 'ready', db: 'ok', redis: 'ok' });
});
