#!/usr/bin/env node
// `npm run check`: the static checks `npm test` runs beside the whole suite (and so CI): types,
// lint (eslint.config.js says which rules and why), unused files, exports and dependencies (knip.jsonc),
// and formatting (.prettierrc.json; `npm run format` fixes it).
// Their caches live in node_modules/.cache, so a second run only re-checks what changed.
// They run side by side (tsc and type-aware eslint each keep one core busy for a minute or two).
import { spawn } from 'node:child_process';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureDependencies, root } from './start.mjs';

const bin = (name) => join(root, 'node_modules', '.bin', name);
const cache = join(root, 'node_modules', '.cache');

const checks = [
  ['types (tsc --noEmit)', bin('tsc'), ['--noEmit', '--incremental', '--tsBuildInfoFile', join(cache, 'tsc.tsbuildinfo')]],
  ['lint (eslint)', bin('eslint'), ['--max-warnings', '0', '--cache', '--cache-location', join(cache, 'eslint/'), '.']],
  ['unused code (knip)', bin('knip'), ['--no-progress']],
  ['format (prettier --check)', bin('prettier'), ['--check', '--log-level', 'warn', '.']],
];

/** Runs one check with its output kept; answers whether it passed and what it printed. */
function runCheck([what, command, args], { background }) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    // Beside the tests, whose waits have deadlines, the checks take the CPU that is left.
    if (background && child.pid) setPriority(child.pid, 10);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', (err) => resolve({ what, ok: false, output: `${output}${err.message}\n`, seconds: 0 }));
    child.on('close', (code, signal) => {
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      resolve({ what, ok: code === 0, output: signal ? `${output}(${signal})\n` : output, seconds });
    });
  });
}

/**
 * Starts every check at once; each says `ok` on one line as it passes. Answers, once all are done,
 * whether all passed, having printed each failure's output under its name.
 */
export async function runChecks({ background = false } = {}) {
  const results = await Promise.all(
    checks.map((check) =>
      runCheck(check, { background }).then((r) => {
        process.stdout.write(`${r.what}: ${r.ok ? 'ok' : 'FAILED'} (${r.seconds} s)\n`);
        return r;
      }),
    ),
  );
  const failed = results.filter((r) => !r.ok);
  for (const r of failed) process.stderr.write(`\n${r.what} failed: fix the errors below.\n${r.output}`);
  return failed.length === 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureDependencies();
  process.exit((await runChecks()) ? 0 : 1);
}
