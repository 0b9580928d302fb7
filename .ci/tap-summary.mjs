#!/usr/bin/env node
// Reads a TAP stream on stdin, prints a readable digest (one line per test file and
// every failing test point with its diagnostics), and ends with "N passed, N failed"
// counted over all test points. A subtest (a file, say) that fails without a failing
// test point of its own (a crash, a timeout, a missed plan) counts as one failure.
// Exit status: 0 when nothing failed and the stream ended well, 1 otherwise.
import { Parser } from 'tap-parser';
import { appendFileSync } from 'node:fs';

const logFile = process.env.TAP_LOG;
let passed = 0;
let failed = 0;
let skipped = 0;
const failures = [];

function watch(parser, path, depth) {
  let open = null; // { name, failedAt } of the child whose closing point comes next
  parser.on('child', (child) => {
    open = { failedAt: failed };
    const childPath = [...path];
    child.on('comment', (c) => {
      const m = /^# Subtest: (.*)/.exec(c.trim());
      if (m && childPath.length === path.length) childPath.push(m[1]);
    });
    watch(child, childPath, depth + 1);
  });
  parser.on('assert', (a) => {
    const name = open ? [...path, a.name].join(' > ') : [...path, a.name || '(unnamed)'].join(' > ');
    if (open) {
      const child = open;
      open = null;
      if (depth === 0) console.log(`${a.ok ? 'ok    ' : 'FAILED'} ${a.name}${a.time ? ` (${Math.round(a.time)} ms)` : ''}`);
      if (!a.ok && failed === child.failedAt) {
        failed++;
        failures.push({ name, diag: a.diag });
      }
      return;
    }
    if (a.skip || a.todo) skipped++;
    else if (a.ok) passed++;
    else {
      failed++;
      failures.push({ name, diag: a.diag });
    }
  });
}

const root = new Parser();
watch(root, [], 0);
let bailed = false;
root.on('bailout', () => (bailed = true));
root.on('complete', (results) => {
  for (const f of failures) {
    console.log(`\nnot ok: ${f.name}`);
    if (f.diag) console.log(JSON.stringify(f.diag, null, 2).split('\n').map((l) => '    ' + l).join('\n'));
  }
  if (!results.ok && failed === 0) {
    failed++;
    console.log('\nnot ok: the test run itself failed (plan or bailout)');
  }
  if (skipped) console.log(`${skipped} skipped or todo`);
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed > 0 || bailed ? 1 : 0;
});
process.stdin.on('data', (d) => {
  if (logFile) appendFileSync(logFile, d);
  root.write(d);
});
process.stdin.on('end', () => root.end());
