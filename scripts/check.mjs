#!/usr/bin/env node
// `npm run check`: the static checks `npm test` runs before the whole suite (and so CI): types,
// lint (eslint.config.js says which rules and why), unused files, exports and dependencies (knip.jsonc),
// and formatting (.prettierrc.json; `npm run format` fixes it).
// Their caches live in node_modules/.cache, so a second run only re-checks what changed.
import { spawnSync } from 'node:child_process';
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

/** Runs each check in turn; on the first failure says which check failed and exits with its code. */
export function runChecks() {
  for (const [what, command, args] of checks) {
    const started = Date.now();
    const { status, signal } = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
    if (status !== 0) {
      process.stderr.write(`\n${what} failed${signal ? ` (${signal})` : ''}: fix the errors above.\n`);
      process.exit(status ?? 1);
    }
    process.stdout.write(`${what}: ok (${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureDependencies();
  runChecks();
}
