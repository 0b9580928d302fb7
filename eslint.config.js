// @ts-check
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const ROOT = dirname(fileURLToPath(import.meta.url));

/**
 * The layers (docs/architecture.md): which project folders each folder may import, besides
 * itself. Folders not listed (tools/, bench/, test/) may import every layer; nothing listed
 * may import them.
 */
const LAYERS = {
  protocol: [],
  db: ['protocol'],
  switch: ['db', 'protocol'],
  backoffice: ['db', 'protocol'],
  'terminal-sim': ['protocol'],
};

/**
 * `layers/imports`: a relative (or absolute) import is resolved against the importing file, so
 * `../../db/pool.js` from protocol/specs/ is caught as surely as `../db/pool.js` from protocol/.
 * Covers import and export declarations, `import()` and TypeScript's `import('…')` types.
 * Package imports (`pg`, `node:net`) are not the project's and pass.
 * @type {import('eslint').Rule.RuleModule}
 */
const layerImports = {
  meta: {
    type: 'problem',
    docs: { description: 'a layer imports only the layers below it (docs/architecture.md)' },
    schema: [{ type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } }],
    messages: {
      forbidden: "{{from}}/ may import {{allowed}}; '{{source}}' is in {{to}} (layers: docs/architecture.md)",
    },
  },
  create(context) {
    /** @type {Record<string, string[]>} */
    const layers = context.options[0] ?? {};
    const file = relative(ROOT, context.filename);
    const from = file.split(sep)[0];
    const below = layers[from];
    if (file.startsWith('..') || !below) return {};
    const allowed = new Set([from, ...below]);
    /** @param {import('estree').Node} node @param {unknown} source */
    const check = (node, source) => {
      if (typeof source !== 'string' || !(source.startsWith('.') || isAbsolute(source))) return;
      const target = relative(ROOT, resolve(dirname(context.filename), source));
      if (target.startsWith('..') || isAbsolute(target)) return;
      const parts = target.split(sep);
      const to = parts.length > 1 ? parts[0] : target;
      if (allowed.has(to)) return;
      context.report({
        node,
        messageId: 'forbidden',
        data: {
          from,
          allowed: below.length ? `only ${[from, ...below].map((l) => `${l}/`).join(', ')}` : `only itself (${from}/)`,
          source,
          to: parts.length > 1 ? `${to}/` : `the project root (${to})`,
        },
      });
    };
    /** @param {any} node */
    const fromSource = (node) => node.source && check(node, node.source.value);
    return {
      ImportDeclaration: fromSource,
      ExportNamedDeclaration: fromSource,
      ExportAllDeclaration: fromSource,
      /** @param {any} node */
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
      /** @param {any} node */
      TSImportType: (node) => check(node, node.argument?.literal?.value),
      /** @param {any} node */
      TSExternalModuleReference: (node) => check(node, node.expression?.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tap/**', 'coverage/**', 'reports/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  // the pages' TSX uses our own factory (backoffice/web/jsx.ts)
  { files: ['**/*.tsx'], languageOptions: { parserOptions: { jsxPragma: 'h', jsxFragmentName: 'Fragment' } } },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
      eqeqeq: ['error', 'always'],
      'prefer-const': 'error',
      'no-console': 'off',
    },
  },
  {
    plugins: { layers: { rules: { imports: layerImports } } },
    rules: { 'layers/imports': ['error', LAYERS] },
  },
);
