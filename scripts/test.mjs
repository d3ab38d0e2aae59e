#!/usr/bin/env node
// `npm test [-- vitest args]`, e.g. `npm test -- test/unit/config.test.ts`. Plain Node, like start.mjs:
// installs the dependencies when missing, then runs `vitest run`. PostgreSQL and Temporal for the
// tests are provided by test/setup/global-setup.ts.
// The whole suite (no arguments, as CI runs it) first runs the static checks of check.mjs; a run of
// chosen files or projects skips them (`npm run check` runs them alone) so iterating stays quick.
import { join } from 'node:path';
import { runChecks } from './check.mjs';
import { ensureDependencies, handOver, root } from './start.mjs';

const args = process.argv.slice(2);
ensureDependencies();
if (args.length === 0) runChecks();
handOver(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...args]);
