#!/usr/bin/env node
// `npm start`. Plain Node on purpose: it runs before the dependencies (tsx included) are installed.
// Installs them when node_modules is missing, then hands over to scripts/dev.ts, loaded through tsx
// (`node --import tsx`: one process, so our signals reach dev.ts itself and nothing between us can
// escalate a slow shutdown to SIGKILL, as the tsx CLI's signal relay does after 30 ms).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** `npm ci` (or `npm install` without a lockfile) when the dependencies are not installed. */
export function ensureDependencies() {
  if (existsSync(join(root, 'node_modules', '.bin', 'tsx'))) return;
  const lock = existsSync(join(root, 'package-lock.json'));
  process.stderr.write(`[deps] node_modules is missing: npm ${lock ? 'ci' : 'install'}\n`);
  if (npm(lock ? ['ci'] : ['install'], { quietFailure: lock })) return;
  // npm ci refuses a lockfile that lacks any platform's optional package, and a registry mirror
  // that serves only this platform's packages cannot complete it. Install the locked versions
  // anyway, without rewriting package-lock.json.
  if (lock) {
    process.stderr.write('[deps] npm ci failed; retrying with npm install --no-save (locked versions, lockfile untouched)\n');
    if (npm(['install', '--no-save'])) return;
  }
  process.stderr.write("[deps] installing the dependencies failed; see npm's message above\n");
  process.exit(1);
}

/** Runs npm; with quietFailure, a failure shows only npm's first error lines (npm ci adds its whole usage text). */
function npm(args, { quietFailure = false } = {}) {
  const argv = [...args, '--no-audit', '--no-fund'];
  const opts = { cwd: root, stdio: ['ignore', 'inherit', quietFailure ? 'pipe' : 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 };
  // Under `npm start`/`npm test`, npm_execpath is the npm that runs us; run the same one.
  const npmCli = process.env.npm_execpath;
  const result = npmCli && npmCli.endsWith('.js') ? spawnSync(process.execPath, [npmCli, ...argv], opts) : spawnSync('npm', argv, opts);
  if (result.error) process.stderr.write(`[deps] npm: ${result.error.message}\n`);
  if (result.status !== 0 && quietFailure && result.stderr) {
    const errors = result.stderr.split('\n').filter((l) => l.startsWith('npm error') && l.trim() !== 'npm error');
    process.stderr.write(`${errors.slice(0, 6).join('\n')}\n`);
  }
  return result.status === 0;
}

/**
 * Runs a command in the foreground, forwards stop signals, exits with its code (or with what
 * `exitCode`, given that code, answers).
 */
export function handOver(command, args, exitCode = async (code) => code) {
  const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
  const forward = (signal) => () => {
    // A terminal's Ctrl-C reaches the child by itself; forwarding covers a `kill` aimed at us alone.
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward(signal));
  child.on('error', (err) => {
    process.stderr.write(`${command}: ${err.message}\n`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => void exitCode(code ?? (signal === 'SIGINT' ? 130 : 1)).then((status) => process.exit(status)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureDependencies();
  // `npm start` runs scripts/dev.ts; `npm run start:cluster` names scripts/cluster.ts.
  handOver(process.execPath, ['--import', 'tsx', process.argv[2] ?? 'scripts/dev.ts']);
}
