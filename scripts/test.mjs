#!/usr/bin/env node
// `npm test [-- vitest args]`, e.g. `npm test -- test/unit/config.test.ts`. Plain Node, like start.mjs:
// installs the dependencies when missing, then runs `vitest run`. PostgreSQL and Temporal for the
// tests are provided by test/setup/global-setup.ts.
// The whole suite (no arguments, as CI runs it) also runs the static checks of check.mjs, beside the
// tests (whose time is mostly waiting), reporting their failures after the tests'; a run of chosen
// files, projects or `--changed` skips them (`npm run check` runs them alone) so iterating stays quick.
import { join } from 'node:path';
import { runChecks } from './check.mjs';
import { ensureDependencies, handOver, root } from './start.mjs';

const args = process.argv.slice(2);
ensureDependencies();
const checked = args.length === 0 ? runChecks({ background: true }) : Promise.resolve(true);
handOver(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...args], async (code) => ((await checked) ? code : code || 1));
