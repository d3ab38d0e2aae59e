#!/usr/bin/env node
// `npm test [-- vitest args]`, e.g. `npm test -- test/unit/config.test.ts`. Plain Node, like start.mjs:
// installs the dependencies when missing, then runs `vitest run`. PostgreSQL and Temporal for the
// tests are provided by test/setup/global-setup.ts.
import { join } from 'node:path';
import { ensureDependencies, handOver, root } from './start.mjs';

ensureDependencies();
handOver(join(root, 'node_modules', '.bin', 'vitest'), ['run', ...process.argv.slice(2)]);
