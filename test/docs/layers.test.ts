// The layers of docs/architecture.md, enforced by eslint (`layers/imports` in eslint.config.js):
// a probe file in each folder, with an import of each folder it must not reach, makes the rule
// fire; the imports it may make do not; and the tree as it is has no violation. The table below
// is written from the architecture, not read from the config, so loosening the config fails here.
// The probes are linted as text under their path (ESLint's lintText with a filePath), so no file
// is left in the source tree for a concurrent build or lint to pick up.
import t from 'tap';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { ROOT } from '../helpers/paths.js';

const FOLDERS = ['protocol', 'db', 'switch', 'backoffice', 'terminal-sim', 'tools', 'bench', 'test'];
const MAY_IMPORT: Record<string, string[]> = {
  protocol: [],
  db: ['protocol'],
  switch: ['db', 'protocol'],
  backoffice: ['db', 'protocol'],
  'terminal-sim': ['protocol'],
};
const RULE = 'layers/imports';

const eslint = new ESLint({ cwd: ROOT });

async function fired(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: join(ROOT, file) });
  const fatal = result.messages.filter((m) => m.fatal);
  if (fatal.length) throw new Error(`${file}: ${fatal[0].message}`);
  return result.messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
}

for (const [layer, below] of Object.entries(MAY_IMPORT)) {
  t.test(`${layer}/`, async (t) => {
    for (const target of FOLDERS.filter((f) => f !== layer && !below.includes(f))) {
      const top = await fired(`${layer}/layer-probe.ts`, `import { x } from '../${target}/x.js';\nexport const y = x;\n`);
      t.equal(top.length, 1, `importing ${target}/ fires`);
      t.match(top[0] ?? '', `is in ${target}/`, '... and names the folder');
      const nested = await fired(`${layer}/sub/layer-probe.ts`, `import { x } from '../../${target}/x.js';\nexport const y = x;\n`);
      t.equal(nested.length, 1, `importing ${target}/ from a subfolder fires`);
    }
    const ok = [layer, ...below].map((f, i) => `import { x${i} } from '../${f}/x.js';`).join('\n');
    t.same(await fired(`${layer}/layer-probe.ts`, `${ok}\nimport pg from 'pg';\nimport net from 'node:net';\nexport { pg, net };\n`), [], `${[layer, ...below].join(', ')}, packages: allowed`);
    t.same(await fired(`${layer}/sub/layer-probe.ts`, `import { x } from '../x.js';\nexport const y = x;\n`), [], 'its own subfolders: allowed');
  });
}

t.test('every form of import is checked', async (t) => {
  const forms = [
    `import type { Pool } from '../../db/pool.js';\nexport type P = Pool;\n`,
    `export { createPool } from '../../db/pool.js';\n`,
    `export * from '../../db/pool.js';\n`,
    `export const p = import('../../db/pool.js');\n`,
    `export type P = import('../../db/pool.js').Pool;\n`,
  ];
  for (const code of forms) t.equal((await fired('protocol/specs/layer-probe.ts', code)).length, 1, code.trim());
});

t.test('tools/, bench/ and test/ may import every layer', async (t) => {
  const all = FOLDERS.map((f, i) => `import { x${i} } from '../${f}/x.js';`).join('\n');
  for (const f of ['tools', 'bench', 'test']) t.same(await fired(`${f}/layer-probe.ts`, `${all}\nexport {};\n`), [], f);
});

t.test('the tree has no layer violation', async (t) => {
  const results = await eslint.lintFiles(Object.keys(MAY_IMPORT));
  t.ok(results.length > 100, `${results.length} files linted`);
  const found = results.flatMap((r) => r.messages.filter((m) => m.ruleId === RULE || m.fatal).map((m) => `${r.filePath.slice(ROOT.length + 1)}:${m.line}: ${m.message}`));
  t.same(found, []);
});
