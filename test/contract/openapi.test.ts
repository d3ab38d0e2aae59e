/**
 * `npm run test:contract`: the API keeps its own OpenAPI document under fuzzing. Schemathesis
 * (scripts/provision/schemathesis.ts installs it) runs every one of its checks against the started
 * API (real PostgreSQL, a real Temporal dev server) with 40 examples per operation, as configured in
 * schemathesis.toml, authenticated with a fresh workspace's key (and the admin token for /admin).
 * Its whole output goes to .data/contract/schemathesis.log; the test fails on any failure it reports.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadProvisionSettings, REPO_ROOT } from '../../scripts/provision/settings';
import { ensureSchemathesis } from '../../scripts/provision/schemathesis';
import { lastLines, run } from '../../scripts/provision/proc';
import { startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../helpers/app';

const log = (line: string) => process.stderr.write(`[contract] ${line}\n`);

let st: string;
let t: TestApp;
beforeAll(async () => {
  const settings = loadProvisionSettings();
  st = await ensureSchemathesis(settings.toolsDir, log);
  t = await startTestApp();
});
afterAll(async () => {
  await t?.close();
});

it('answers every generated request as its OpenAPI document says (Schemathesis, all checks)', async () => {
  const dir = join(loadProvisionSettings().dataDir, 'contract');
  await mkdir(dir, { recursive: true });
  const started = Date.now();
  const result = await run(
    st,
    [
      '--config-file',
      join(REPO_ROOT, 'test/contract/schemathesis.toml'),
      'run',
      `${t.baseUrl}/openapi.json`,
      '--checks',
      'all',
      // The coverage and stateful phases are left out to keep the run bounded: on this document
      // the coverage phase had not ended after 4 minutes (it enumerates boundary values of every
      // schema, conditions included); examples and fuzzing send the 40 examples per operation.
      '--phases',
      'examples,fuzzing',
      '--no-color',
      '--report',
      'junit',
      '--report-dir',
      dir,
    ],
    {
      cwd: dir,
      // A crashed generator thread has left Schemathesis hanging before: it gets 20 minutes.
      timeout: 1_200_000,
      env: { ...process.env, PYTHONUNBUFFERED: '1', FOLLOWUP_API_KEY: t.apiKey, FOLLOWUP_ADMIN_TOKEN: TEST_ADMIN_TOKEN },
      onLine: (line) => process.stdout.write(`${line}\n`),
    },
  );
  const output = `${result.stdout}\n${result.stderr}`;
  await writeFile(join(dir, 'schemathesis.log'), output);
  log(`schemathesis exited ${result.code} after ${((Date.now() - started) / 1000).toFixed(0)} s; output in ${join(dir, 'schemathesis.log')}`);
  expect(result.code, lastLines(output, 60)).toBe(0);
});
