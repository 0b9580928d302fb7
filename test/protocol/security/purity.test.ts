// protocol/security is pure: its files import node:crypto and each other, nothing else (not
// the rest of protocol/, not node:fs or node:net), and do no I/O (no process, console, timers
// or fetch). The checker is itself tried on sources that break each rule.
import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/paths.js';

const DIR = join(ROOT, 'protocol', 'security');
const IO_GLOBALS = /\b(process|console|fetch|setTimeout|setInterval|setImmediate|require)\s*[.(]/;

/** What a source breaks: module specifiers other than node:crypto and sibling files, and I/O. */
function impurities(source: string, siblingExists: (file: string) => boolean): string[] {
  const out: string[] = [];
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const specifiers = [
    ...code.matchAll(/\b(?:import|export)\b[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g),
    ...code.matchAll(/\bimport\s*['"]([^'"]+)['"]/g),
    ...code.matchAll(/\bimport\s*\(\s*['"`]?([^'"`)]*)/g),
  ].map((m) => m[1]);
  for (const s of specifiers) {
    if (s === 'node:crypto') continue;
    const sibling = /^\.\/([a-z0-9-]+)\.js$/.exec(s);
    if (sibling && siblingExists(`${sibling[1]}.ts`)) continue;
    out.push(`imports ${s}`);
  }
  const io = IO_GLOBALS.exec(code);
  if (io) out.push(`uses ${io[1]}`);
  return out;
}

t.test('the checker catches each kind of impurity', async (t) => {
  const exists = (f: string): boolean => f === 'block.ts';
  t.same(impurities("import { x } from './block.js';\nimport { createHash } from 'node:crypto';", exists), []);
  t.same(impurities("import { Codec } from '../codec.js';", exists), ['imports ../codec.js']);
  t.same(impurities("import { readFileSync } from 'node:fs';", exists), ['imports node:fs']);
  t.same(impurities("export * from './nothere.js';", exists), ['imports ./nothere.js']);
  t.same(impurities("import 'pino';", exists), ['imports pino']);
  t.same(impurities("const m = await import('node:net');", exists), ['imports node:net']);
  t.same(impurities("import crypto from 'crypto';", exists), ['imports crypto']);
  t.same(impurities('console.log(key);', exists), ['uses console']);
  t.same(impurities('const k = process.env.KEY;', exists), ['uses process']);
  t.same(impurities("// console.log('a comment')\n/* process.exit() */", exists), [], 'comments are not code');
});

t.test('protocol/security is pure', async (t) => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.ts'));
  t.ok(files.length >= 6, `${files.length} files`);
  for (const f of files) {
    const found = impurities(readFileSync(join(DIR, f), 'utf8'), (s) => existsSync(join(DIR, s)));
    t.same(found, [], `${f} imports only node:crypto and its siblings, and does no I/O`);
  }
});
