/**
 * Temporal for `npm start` and `npm test`: the server at an address, or a dev server run from the
 * Temporal CLI (on PATH, in the shared tools cache, or built there from the Go module proxy).
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import { connectTemporal } from '#platform/temporal';
import { SetupError, TEMPORAL_CLI_VERSION } from './settings';
import { elapsed, freePort, isPortFree, run, startProcess, tailFile, waitFor, which, type Log, type ManagedProcess } from './proc';

/** docs/design.md §6.4: the custom search attributes every enrollment workflow carries. */
export const SEARCH_ATTRIBUTES = {
  WorkspaceId: 'Keyword',
  AutomationId: 'Keyword',
  AutomationVersion: 'Int',
  RecordId: 'Keyword',
  EnrollmentStatus: 'Keyword',
  CurrentStep: 'Keyword',
} as const;

export const searchAttributeArgs = (): string[] => Object.entries(SEARCH_ATTRIBUTES).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);

const CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';

/** The `temporal` CLI: on PATH, else in `<tools>/bin`, else built there (minutes, once per machine). */
export async function ensureTemporalCli(toolsDir: string, log: Log): Promise<string> {
  const binDir = join(toolsDir, 'bin');
  const found = await which('temporal', [binDir]);
  if (found) return found;
  await goInstall({
    what: `the Temporal CLI ${TEMPORAL_CLI_VERSION}`,
    packages: [`${CLI_MODULE}@${TEMPORAL_CLI_VERSION}`],
    binaries: { temporal: 'temporal' },
    toolsDir,
    binDir,
    minutes: 5,
    fallback:
      'Alternatives (docs/operations.md §2.1): install the Temporal CLI on PATH (https://docs.temporal.io/cli), put a built `temporal` in ' +
      `${binDir}, or run a Temporal server yourself and set TEMPORAL_ADDRESS=host:port.`,
    log,
  });
  return join(binDir, 'temporal');
}

/**
 * `go install`s `packages` (all `module/path@version`) and moves the binaries they produce
 * (`binaries`: the name go gives -> the name we keep) into `binDir`. Built into a private folder
 * and renamed into place, so a concurrent or interrupted build never leaves a half-written binary
 * where the next run would find it. Logs progress every 20 s; `fallback` tells what else to do
 * when it fails.
 */
export async function goInstall(opts: {
  what: string;
  packages: string[];
  binaries: Record<string, string>;
  toolsDir: string;
  binDir: string;
  minutes: number;
  fallback: string;
  log: Log;
}): Promise<void> {
  const { what, log } = opts;
  const go = await which('go', ['/usr/local/go/bin', '/usr/lib/go/bin']);
  if (!go) throw new SetupError(`${what} is not built and there is no Go toolchain to build it.\n${opts.fallback}`);

  const started = Date.now();
  log(`building ${what} from the Go module proxy into ${opts.binDir}`);
  log(`this happens once per machine and takes about ${opts.minutes} minutes; later runs reuse it`);
  await mkdir(opts.toolsDir, { recursive: true });
  const tmpBin = await mkdtemp(join(opts.toolsDir, '.build-'));
  let modules = 0;
  let packages = 0;
  let last = '';
  const ticker = setInterval(
    () => log(`  still building ${what} (${elapsed(started)}: ${modules} modules downloaded, ${packages} packages compiled${last ? `, at ${last}` : ''})`),
    20_000,
  );
  try {
    const result = await run(go, ['install', '-v', ...opts.packages], {
      env: { ...process.env, GOBIN: tmpBin, CGO_ENABLED: '0' },
      // stderr carries `go: downloading <module> <version>` while fetching, then one package path per compiled package.
      onLine: (line) => {
        const text = line.trim();
        const download = /^go: downloading (\S+)/.exec(text);
        if (download) {
          modules += 1;
          last = download[1]!;
        } else if (/^[\w.-]+(\/[\w.@-]+)*$/.test(text)) {
          packages += 1;
          last = text;
        }
      },
    });
    if (result.code !== 0) {
      throw new SetupError(
        `Building ${what} failed (go install ${opts.packages.join(' ')}, exit ${result.code}):\n${result.stderr.trim().split('\n').slice(-15).join('\n')}\n${opts.fallback}`,
      );
    }
    await mkdir(opts.binDir, { recursive: true });
    for (const [built, kept] of Object.entries(opts.binaries)) await rename(join(tmpBin, built), join(opts.binDir, kept));
  } finally {
    clearInterval(ticker);
    await rm(tmpBin, { recursive: true, force: true });
  }
  log(`built ${what} in ${elapsed(started)}`);
}

/** Connects to `address` and asks for the system info; a SetupError names `envName` when it cannot. */
export async function checkTemporal(address: string, envName: string, timeoutMs = 5_000): Promise<void> {
  try {
    const client = await connectTemporal({ TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: 'default' }, timeoutMs);
    await client.connection.close();
  } catch (err) {
    const cause = (err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message;
    throw new SetupError(
      `${envName}: Temporal does not answer at ${address} (${cause.split('\n')[0]}). Start it, fix the address, or unset ${envName} to get a local dev server.`,
      { cause: err },
    );
  }
}

/**
 * True once a worker whose identity starts with `identityPrefix` polls `taskQueue` for workflow
 * tasks (the SDK's default identity is `<pid>@<host>`). Pollers of a previous run stay listed for a
 * while, hence the identity.
 */
export async function workerPolls(address: string, namespace: string, taskQueue: string, identityPrefix: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 2_000 });
  try {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name: taskQueue },
      taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
    });
    return (pollers ?? []).some((p) => p.identity?.startsWith(identityPrefix));
  } finally {
    await connection.close();
  }
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` on 127.0.0.1 with our search attributes, waits until its
 * frontend answers. `dbFile` keeps workflows across runs; without it, state lives in memory.
 * `anyPort`: take free ports when the wanted ones are taken (tests) instead of failing.
 */
export async function startTemporalDevServer(opts: {
  cli: string;
  port: number;
  uiPort?: number;
  dbFile?: string;
  logFile: string;
  anyPort?: boolean;
  portVar: string;
  uiPortVar: string;
  log: Log;
}): Promise<TemporalDevServer> {
  const pick = async (port: number, name: string): Promise<number> => {
    if (await isPortFree(port)) return port;
    if (opts.anyPort) return freePort();
    throw new SetupError(
      `${name}: port ${port} on 127.0.0.1 is in use (another \`npm start\`, or another program). Set ${name} to a free port, or set TEMPORAL_ADDRESS=127.0.0.1:${port} if a Temporal server already runs there.`,
    );
  };
  const port = await pick(opts.port, opts.portVar);
  const uiPort = opts.uiPort === undefined ? undefined : await pick(opts.uiPort, opts.uiPortVar);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...searchAttributeArgs()];
  if (uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(uiPort));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);

  const address = `127.0.0.1:${port}`;
  const proc = await startProcess('temporal', opts.cli, args, { logFile: opts.logFile });
  try {
    await waitFor(
      `the Temporal dev server at ${address}`,
      async () => {
        await checkTemporal(address, 'TEMPORAL_ADDRESS', 2_000);
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 300, abort: () => (proc.exit ? `exited (code ${proc.exit.code}, signal ${proc.exit.signal})` : undefined) },
    );
  } catch (err) {
    await proc.stop(3_000);
    throw new SetupError(`${(err as Error).message}\n  ${opts.cli} ${args.join(' ')}\n  ${opts.logFile}:\n${await tailFile(opts.logFile, 15)}`);
  }
  return { address, uiUrl: uiPort === undefined ? undefined : `http://127.0.0.1:${uiPort}`, process: proc, stop: () => proc.stop(10_000) };
}
