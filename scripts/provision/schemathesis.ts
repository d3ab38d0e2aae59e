/**
 * Schemathesis (the OpenAPI fuzzer, from PyPI) for `npm run test:contract`, installed once per
 * machine into a virtual environment in the tools cache: `python3 -m venv`, then `pip install` of
 * test/contract/requirements.txt (every version pinned). The folder is named after the file's hash,
 * so a change of a pin makes a new one. A venv cannot be moved once made, so it is built in place
 * and marked complete last: a half-done install is removed and made again.
 */
import { createHash } from 'node:crypto';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REPO_ROOT } from './settings';
import { aptInstall, elapsed, findOrInstall, run, runOk, type Log } from './proc';

const REQUIREMENTS = join(REPO_ROOT, 'test', 'contract', 'requirements.txt');

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

/** Returns the path of the `st` command of the pinned Schemathesis. */
export async function ensureSchemathesis(toolsDir: string, log: Log): Promise<string> {
  const requirements = await readFile(REQUIREMENTS, 'utf8');
  const home = join(toolsDir, `schemathesis-${createHash('sha256').update(requirements).digest('hex').slice(0, 12)}`);
  const st = join(home, 'bin', 'st');
  const marker = join(home, '.complete');
  if (await exists(marker)) return st;
  const python = await findOrInstall('python3', 'python3', log, 'Schemathesis needs python3 (3.9 or later): install it');
  // Debian ships the venv module's pip bootstrap separately, in python3-venv.
  if ((await run(python, ['-c', 'import ensurepip, venv'])).code !== 0) {
    await aptInstall(['python3-venv'], log, 'python3 cannot make virtual environments: install python3-venv');
  }
  const started = Date.now();
  log(`installing Schemathesis from PyPI into ${home} (once per machine)`);
  await rm(home, { recursive: true, force: true });
  await runOk('python3 -m venv', python, ['-m', 'venv', home]);
  await runOk('pip install', join(home, 'bin', 'pip'), ['install', '--disable-pip-version-check', '--no-input', '-r', REQUIREMENTS]);
  await writeFile(marker, requirements);
  log(`Schemathesis installed in ${elapsed(started)}`);
  return st;
}
