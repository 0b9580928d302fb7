/**
 * A schema's catalog as sorted lines of text (tables and their options, columns, constraints,
 * indexes, triggers, views, sequences, functions, types and domains' constraints), with the
 * schema's name taken out, so that two schemas built by different SQL can be compared line by
 * line.
 */
import type pg from 'pg';

const QUERIES: string[] = [
  `SELECT 'table ' || c.relname || coalesce(' ' || array_to_string(c.reloptions, ','), '')
   FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')`,
  `SELECT 'column ' || c.relname || '.' || a.attname || ' #' || a.attnum || ' ' || format_type(a.atttypid, a.atttypmod)
          || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
          || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p', 'v') AND a.attnum > 0 AND NOT a.attisdropped`,
  `SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid)
   FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid WHERE c.relnamespace = $1::regnamespace`,
  `SELECT 'index ' || pg_get_indexdef(i.indexrelid)
   FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = $1::regnamespace`,
  `SELECT 'trigger ' || pg_get_triggerdef(t.oid)
   FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = $1::regnamespace AND NOT t.tgisinternal`,
  // (whitespace and the columns' table qualifiers taken out: PostgreSQL 16 stopped printing
  // them in a one-table query, and the embedded PGlite is a later version than the server)
  `SELECT 'view ' || c.relname || ' ' || trim(regexp_replace(regexp_replace(pg_get_viewdef(c.oid), '\\s+', ' ', 'g'), '\\m[a-z_]+\\.(?=[a-z_])', '', 'g'))
   FROM pg_class c WHERE c.relnamespace = $1::regnamespace AND c.relkind = 'v'`,
  `SELECT 'sequence ' || s.relname || coalesce(' owned by ' || t.relname || '.' || a.attname, '')
   FROM pg_class s
   LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype = 'a'
   LEFT JOIN pg_class t ON t.oid = d.refobjid
   LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
   WHERE s.relnamespace = $1::regnamespace AND s.relkind = 'S'`,
  `SELECT 'function ' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ') ' || pg_get_function_result(p.oid)
          || ' ' || l.lanname || ' body ' || md5(p.prosrc) || coalesce(' set ' || array_to_string(p.proconfig, ','), '')
   FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang WHERE p.pronamespace = $1::regnamespace`,
  `SELECT 'domain ' || t.typname || ' ' || format_type(t.typbasetype, t.typtypmod) || ' ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
   FROM pg_constraint k JOIN pg_type t ON t.oid = k.contypid WHERE t.typnamespace = $1::regnamespace`,
  `SELECT 'type ' || t.typname || ' ' || t.typtype::text
   FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
   WHERE t.typnamespace = $1::regnamespace AND t.typelem = 0 AND (c.oid IS NULL OR c.relkind = 'c')`,
];

/** Bookkeeping of the migration runner, not part of what the migrations build. */
const RUNNER_TABLES = /\bschema_(migrations|functions)\b/;

export async function catalog(pool: pg.Pool, schema: string): Promise<string[]> {
  const c = await pool.connect();
  try {
    // Definitions come out schema-qualified whatever the caller's search_path: then the
    // schema's name is removed from them. (SET LOCAL: the embedded database has one session for
    // every connection, whose search_path its pools rely on.)
    await c.query('BEGIN');
    await c.query('SET LOCAL search_path TO pg_catalog');
    const lines: string[] = [];
    for (const q of QUERIES) {
      for (const r of (await c.query<{ line: string }>(`SELECT x.line FROM (${q}) AS x(line)`, [schema])).rows) {
        lines.push(r.line.split(`${schema}.`).join(''));
      }
    }
    return lines.filter((l) => !RUNNER_TABLES.test(l)).sort();
  } finally {
    await c.query('ROLLBACK').catch(() => {});
    c.release();
  }
}
