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
  const args = lock ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  process.stderr.write(`[deps] node_modules is missing: npm ${args[0]}\n`);
  // Under `npm start`/`npm test`, npm_execpath is the npm that runs us; run the same one.
  const npmCli = process.env.npm_execpath;
  const result = npmCli && npmCli.endsWith('.js')
    ? spawnSync(process.execPath, [npmCli, ...args], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    process.stderr.write(`[deps] npm ${args[0]} failed (${result.error?.message ?? `exit ${result.status}`})\n`);
    process.exit(1);
  }
}

/** Runs a command in the foreground, forwards stop signals, exits with its code. */
export function handOver(command, args) {
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
  child.on('exit', (code, signal) => process.exit(code ?? (signal === 'SIGINT' ? 130 : 1)));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  ensureDependencies();
  handOver(process.execPath, ['--import', 'tsx', 'scripts/dev.ts']);
}
