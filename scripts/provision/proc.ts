/** Small process, port and file helpers shared by the provisioning modules. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { access, constants, open, readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { SetupError } from './settings';

export type Log = (line: string) => void;

export const isRoot = (): boolean => process.getuid?.() === 0;

// Ctrl-C during provisioning: every short-lived command is killed and every wait gives up, so the
// step that was running fails at once and the caller stops what had already started.
let interruption: string | undefined;
const shortLived = new Set<ChildProcess>();
const longLived = new Set<ManagedProcess>();

export function interrupt(reason: string): void {
  interruption = reason;
  for (const child of shortLived) child.kill('SIGTERM');
}

// Last resort when our process exits without cleaning up (vitest exits at once on Ctrl-C, without
// running teardowns): synchronous hooks that stop what we started.
const exitHooks = new Set<() => void>();
process.on('exit', () => {
  for (const hook of exitHooks) {
    try {
      hook();
    } catch {
      /* best effort */
    }
  }
});

/** Runs `hook` (synchronous code only) if the process exits while it is registered; returns the unregister function. */
export function onExitSync(hook: () => void): () => void {
  exitHooks.add(hook);
  return () => exitHooks.delete(hook);
}

/** Stops every process startProcess() started that is still running (the last line of cleanup). */
export async function stopAllProcesses(): Promise<void> {
  await Promise.all([...longLived].map((p) => p.stop()));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion and captures its output (never throws for a non-zero exit). */
export function run(command: string, args: string[], opts: SpawnOptions & { onLine?: (line: string) => void } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    shortLived.add(child);
    let stdout = '';
    let stderr = '';
    const collect = (into: 'out' | 'err') => (chunk: Buffer) => {
      const text = chunk.toString();
      if (into === 'out') stdout += text;
      else stderr += text;
      if (opts.onLine) for (const line of text.split('\n')) if (line.trim()) opts.onLine(line);
    };
    child.stdout!.on('data', collect('out'));
    child.stderr!.on('data', collect('err'));
    child.on('error', (err) => {
      shortLived.delete(child);
      reject(err);
    });
    child.on('close', (code) => {
      shortLived.delete(child);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

/** Like run(), but a non-zero exit becomes a SetupError that shows the end of the output. */
export async function runOk(what: string, command: string, args: string[], opts: Parameters<typeof run>[2] = {}): Promise<RunResult> {
  const result = await run(command, args, opts);
  if (result.code !== 0) {
    throw new SetupError(`${what} failed (exit ${result.code}): ${command} ${args.join(' ')}\n${lastLines(result.stderr || result.stdout, 20)}`);
  }
  return result;
}

export function lastLines(text: string, n: number): string {
  return text
    .trimEnd()
    .split('\n')
    .slice(-n)
    .map((l) => `    ${l}`)
    .join('\n');
}

export async function tailFile(path: string, n = 20): Promise<string> {
  try {
    return lastLines(await readFile(path, 'utf8'), n);
  } catch {
    return '    (no log)';
  }
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** First executable named `name` on PATH, then in `extraDirs`. */
export async function which(name: string, extraDirs: string[] = []): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...extraDirs];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** True when nothing listens on host:port (we can bind it ourselves). */
export function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePromise(port));
    });
  });
}

/** Polls `check` until it returns a value; throws a SetupError naming `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const aborted = interruption ?? opts.abort?.();
    if (aborted) throw new SetupError(`${what}: ${aborted}`);
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new SetupError(`${what}: no answer after ${Math.round(opts.timeoutMs / 1000)}s`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Set once the process has exited. */
  exit?: { code: number | null; signal: NodeJS.Signals | null };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL to its whole process group after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts a long-running child in its own process group, so a terminal's Ctrl-C reaches only us and
 * we stop children in order (services before the servers they use). Output goes to our terminal,
 * or to `logFile` when given.
 */
export async function startProcess(
  name: string,
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; logFile?: string } = {},
): Promise<ManagedProcess> {
  const log = opts.logFile ? await open(opts.logFile, 'a') : undefined;
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    detached: true,
    stdio: log ? ['ignore', log.fd, log.fd] : ['ignore', 'inherit', 'inherit'],
  });
  // The child holds its own copy of the descriptor.
  await log?.close();
  const forget = onExitSync(() => process.kill(-child.pid!, 'SIGTERM'));
  const managed: ManagedProcess = {
    name,
    child,
    exited: new Promise((resolvePromise) => {
      child.once('exit', (code, signal) => {
        longLived.delete(managed);
        forget();
        managed.exit = { code, signal };
        resolvePromise({ code, signal });
      });
      child.once('error', (err) => {
        longLived.delete(managed);
        forget();
        managed.exit = { code: null, signal: null };
        process.stderr.write(`${name}: ${err.message}\n`);
        resolvePromise(managed.exit);
      });
    }),
    async stop(graceMs = 15_000) {
      if (managed.exit || child.pid === undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        try {
          process.kill(-child.pid!, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }, graceMs);
      await managed.exited;
      clearTimeout(timer);
    },
  };
  longLived.add(managed);
  return managed;
}

/**
 * Installs Debian packages when we may (root, apt-get present, not forbidden); otherwise throws
 * `otherwise`, which tells the person what to install.
 */
export async function aptInstall(packages: string[], log: Log, otherwise: string): Promise<void> {
  if (!isRoot() || !(await which('apt-get'))) throw new SetupError(otherwise);
  log(`installing ${packages.join(', ')} with apt-get (first run only)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await runOk('apt-get update', 'apt-get', ['update'], { env });
  await runOk(`apt-get install ${packages.join(' ')}`, 'apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env });
}

/** `tool` from PATH (or `extraDirs`), installing Debian package `pkg` when it is missing and we may. */
export async function findOrInstall(tool: string, pkg: string, log: Log, otherwise: string, extraDirs: string[] = []): Promise<string> {
  const found = await which(tool, extraDirs);
  if (found) return found;
  await aptInstall([pkg], log, otherwise);
  const installed = await which(tool, extraDirs);
  if (!installed) throw new SetupError(otherwise);
  return installed;
}

/**
 * Like Promise.all for provisioning steps that run side by side: the first failure interrupts the
 * others (a minutes-long build does not delay the message), and every step settles before the
 * failure is thrown, so whatever was already started has been registered for stopping.
 */
export async function allOrFirstError<T extends readonly Promise<unknown>[]>(tasks: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  let first: { error: unknown } | undefined;
  const results = await Promise.allSettled(
    tasks.map((task) =>
      task.catch((error: unknown) => {
        if (!first) {
          first = { error };
          interrupt(`stopped: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
        }
        throw error;
      }),
    ),
  );
  if (first) throw first.error;
  return results.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

export function elapsed(since: number): string {
  const s = Math.round((Date.now() - since) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
