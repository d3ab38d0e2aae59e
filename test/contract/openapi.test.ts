/**
 * `npm run test:contract`: the API keeps its own OpenAPI document under fuzzing. Schemathesis
 * (scripts/provision/schemathesis.ts installs it) runs every one of its checks against the started
 * API (real PostgreSQL, a real Temporal dev server), as configured in schemathesis.toml,
 * authenticated with a fresh workspace's key (and the admin token for /admin), with the ids of the
 * resources seed.ts made in that workspace. documented_refusals.py keeps Schemathesis from counting
 * the refusals of valid-looking data that the document explains (JSON Schema cannot state them).
 * Its whole output goes to .data/contract/schemathesis.log; the test fails on any failure it reports.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadProvisionSettings, REPO_ROOT } from '#scripts/provision/settings';
import { ensureSchemathesis } from '#scripts/provision/schemathesis';
import { lastLines, run } from '#scripts/provision/proc';
import { startTestApp, TEST_ADMIN_TOKEN, type TestApp } from '../helpers/app';
import { seedContractData } from './seed';

const log = (line: string) => process.stderr.write(`[contract] ${line}\n`);

let st: string;
let t: TestApp;
let seeded: Record<string, string>;
beforeAll(async () => {
  const settings = loadProvisionSettings();
  st = await ensureSchemathesis(settings.toolsDir, log);
  // Schemathesis's missing-auth checks send requests without a key from loopback all run long: at
  // the product's default the failed-authentication limiter would answer everything after them 429.
  t = await startTestApp({ config: { AUTH_FAILURES_PER_MINUTE: 1_000_000 } });
  seeded = await seedContractData(t);
});
afterAll(async () => {
  await t?.close();
});

/**
 * Runs Schemathesis over the operations `selection` picks, authenticated with `token`. The /admin
 * routes get a run of their own: Schemathesis 4.1.4 keeps one session for all operations, with
 * the first operation's headers, and its missing-auth check removes the per-operation header it
 * was given, so after that check an /admin request went out with the session's workspace key.
 */
async function fuzz(name: string, token: string, selection: string[]): Promise<void> {
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
      ...selection,
      '--header',
      `Authorization: Bearer ${token}`,
      '--checks',
      'all',
      // The coverage and stateful phases are left out to keep the run bounded: on this document
      // the coverage phase had not ended after 4 minutes (it enumerates boundary values of every
      // schema, conditions included).
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
      env: {
        ...process.env,
        ...seeded,
        PYTHONUNBUFFERED: '1',
        // No __pycache__ beside the hooks module in the checkout.
        PYTHONDONTWRITEBYTECODE: '1',
        // schemathesis.toml's `hooks` module, documented_refusals.py, is imported from here.
        PYTHONPATH: join(REPO_ROOT, 'test/contract'),
      },
      onLine: (line) => process.stdout.write(`${line}\n`),
    },
  );
  const output = `${result.stdout}\n${result.stderr}`;
  const logFile = join(dir, `schemathesis-${name}.log`);
  await writeFile(logFile, output);
  log(`schemathesis (${name}) exited ${result.code} after ${((Date.now() - started) / 1000).toFixed(0)} s; output in ${logFile}`);
  expect(result.code, lastLines(output, 60)).toBe(0);
}

it('answers every generated request to /v1 and the public routes as its OpenAPI document says (Schemathesis, all checks)', async () => {
  await fuzz('api', t.apiKey, ['--exclude-path-regex', '^/admin/']);
});

it('answers every generated request to /admin as its OpenAPI document says (Schemathesis, all checks)', async () => {
  await fuzz('admin', TEST_ADMIN_TOKEN, ['--include-path-regex', '^/admin/']);
});
