/**
 * `npm run build`: the JavaScript that production runs (the Dockerfile, docker-compose and
 * `npm run start:cluster`), in dist/:
 *   api.js, worker.js, migrate.js   the three entry points, each one ES module bundled by esbuild
 *                                   (our code only; packages stay in node_modules);
 *   workflow-bundle.js              the workflow code bundled by the Temporal SDK, once, here: the
 *                                   compiled worker loads it instead of bundling at every start;
 *   dashboard/                      the files of GET /dashboard, which the API serves.
 * Development and tests keep running the TypeScript through tsx.
 */
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { build } from 'esbuild';
import { bundleWorkflowCode } from '@temporalio/worker';
import { REPO_ROOT } from './provision/settings';
import { ENTRIES } from './provision/services';
import { WORKFLOWS_PATH } from '#services/worker/worker';

const DIST = join(REPO_ROOT, 'dist');
const WORKFLOW_BUNDLE = 'workflow-bundle.js';
const DASHBOARD = 'dashboard/';

async function main(): Promise<void> {
  const t0 = Date.now();
  await rm(DIST, { recursive: true, force: true });
  await mkdir(DIST, { recursive: true });
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: ENTRIES,
    outdir: DIST,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    logLevel: 'warning',
    // The compiled worker finds its workflow bundle beside itself (services/worker/worker.ts).
    // The API serves the dashboard's files from beside itself (services/api/routes/dashboard.ts).
    define: { FOLLOWUP_WORKFLOW_BUNDLE: JSON.stringify(WORKFLOW_BUNDLE), FOLLOWUP_DASHBOARD_DIR: JSON.stringify(DASHBOARD) },
  });
  await cp(join(REPO_ROOT, 'services', 'api', 'dashboard'), join(DIST, DASHBOARD), { recursive: true });
  const { code } = await bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error },
  });
  await writeFile(join(DIST, WORKFLOW_BUNDLE), code);
  process.stderr.write(
    `[build] dist/ (${Object.keys(ENTRIES)
      .map((e) => `${e}.js`)
      .join(', ')}, ${WORKFLOW_BUNDLE} ${(code.length / 1024 / 1024).toFixed(1)} MB) in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`build failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
