/**
 * `npm run bench:startup`: start-up time and memory of the API and the worker, run as development
 * runs them (TypeScript through tsx; the worker bundles workflows/ at start) and as production runs
 * them (`npm run build`'s dist/: plain JavaScript, the workflow bundle built once), side by side.
 *
 * Each process is started ROUNDS times, alone, against a private Temporal dev server and a fresh
 * database on the local PostgreSQL cluster. Start-up: spawn -> the API answers /readyz, or the
 * worker polls its task queue. RSS: /proc/<pid>/status VmRSS when ready and 5 s later (idle).
 * Writes the "Start-up and memory" section of docs/benchmarks.md, keeping the other sections.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createDb } from '#db/connection';
import { migrateToLatest } from '#db/migrate';
import { startLocalPostgres } from '#scripts/provision/postgres';
import { loadProvisionSettings, REPO_ROOT } from '#scripts/provision/settings';
import { ensureTemporalCli, startTemporalDevServer } from '#scripts/provision/temporal';
import { freePort, runOk, startProcess, stopAllProcesses } from '#scripts/provision/proc';
import { waitForApi, waitForWorker } from '#scripts/provision/lifecycle';
import { serviceCommand } from '#scripts/provision/services';
import { rssMiB } from './support';

const log = (line: string) => process.stderr.write(`[bench:startup] ${line}\n`);
const ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS ?? 3);
const DOC = join(REPO_ROOT, 'docs', 'benchmarks.md');
const START = '<!-- bench:startup:start -->';
const END = '<!-- bench:startup:end -->';

const rssMb = async (pid: number) => (await rssMiB(pid)) ?? NaN;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const settings = loadProvisionSettings();
  const dir = join(settings.dataDir, 'bench');
  await mkdir(dir, { recursive: true });
  const local = await startLocalPostgres({ root: join(settings.dataDir, 'postgres'), port: settings.pgPort, anyPort: true, log });
  const databaseUrl = local.url('followup_bench_startup');
  const admin = new pg.Client({ connectionString: local.url('postgres') });
  await admin.connect();
  await admin.query('drop database if exists followup_bench_startup with (force)');
  await admin.query('create database followup_bench_startup');
  await admin.end();
  const db = createDb(databaseUrl, { max: 1 });
  await migrateToLatest(db);
  await db.destroy();
  const server = await startTemporalDevServer({
    cli: await ensureTemporalCli(settings.toolsDir, log),
    port: await freePort(),
    logFile: join(dir, 'temporal-startup.log'),
    anyPort: true,
    portVar: 'BENCH_TEMPORAL_PORT',
    uiPortVar: 'BENCH_TEMPORAL_UI_PORT',
    log,
  });
  log('npm run build');
  await runOk('npm run build', process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: REPO_ROOT });

  const rows: string[] = [];
  const figures: Record<string, unknown> = {};
  try {
    for (const service of ['api', 'worker'] as const) {
      for (const compiled of [false, true]) {
        const times: number[] = [];
        const ready: number[] = [];
        const idle: number[] = [];
        for (let round = 0; round < ROUNDS; round += 1) {
          const port = await freePort();
          const env = {
            ...process.env,
            NODE_ENV: 'production',
            SECRETS_KEY: randomBytes(48).toString('base64'),
            LOG_LEVEL: 'warn',
            LOG_FORMAT: 'json',
            PORT: String(port),
            DATABASE_URL: databaseUrl,
            TEMPORAL_ADDRESS: server.address,
          };
          const command = serviceCommand(service, compiled);
          const t0 = performance.now();
          const proc = await startProcess(service, command[0]!, command.slice(1), { env, cwd: REPO_ROOT, logFile: join(dir, `startup-${service}.log`) });
          const abort = () => (proc.exit ? `exited (code ${proc.exit.code}); see ${dir}/startup-${service}.log` : undefined);
          if (service === 'api') await waitForApi(`http://127.0.0.1:${port}`, abort);
          else await waitForWorker(server.address, 'default', 'followups', proc.child.pid!, abort);
          times.push(performance.now() - t0);
          ready.push(await rssMb(proc.child.pid!));
          await new Promise((r) => setTimeout(r, 5_000));
          idle.push(await rssMb(proc.child.pid!));
          await proc.stop(35_000);
        }
        const how = compiled ? `\`node ${command(service, true)}\`` : `\`node --import tsx ${command(service, false)}\``;
        rows.push(
          `| ${service} | ${how} | ${(median(times) / 1000).toFixed(1)} | ${times.map((t) => (t / 1000).toFixed(1)).join(' / ')} | ${median(ready).toFixed(0)} | ${median(idle).toFixed(0)} |`,
        );
        figures[`${service}_${compiled ? 'dist' : 'tsx'}`] = {
          startupMs: Math.round(median(times)),
          rssReadyMb: Math.round(median(ready)),
          rssIdleMb: Math.round(median(idle)),
        };
        log(rows.at(-1)!);
      }
    }
  } finally {
    await server.stop();
    if (local.owned) await local.stop();
    await stopAllProcesses();
  }

  const section = [
    START,
    '## Start-up and memory of the services (`npm run bench:startup`)',
    '',
    `Run ${new Date().toISOString()}: ${cpus().length} CPUs (${cpus()[0]?.model.trim()}), load average at the end ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' / ')}; each process started ${ROUNDS} times alone against a Temporal dev server and the local PostgreSQL; NODE_ENV=production, JSON logs.`,
    '',
    '| process | run as | start-up s (median) | each run s | RSS MB when ready | RSS MB 5 s later |',
    '| --- | --- | ---: | --- | ---: | ---: |',
    ...rows,
    '',
    'Start-up runs from spawning the process to the API answering `/readyz` (PostgreSQL and Temporal checked) or the worker polling its task queue (its identity seen by the server). ' +
      'Under tsx every TypeScript module is compiled at load, and the worker bundles workflows/ with webpack before it polls; the compiled worker loads dist/workflow-bundle.js, written once by `npm run build`.',
    END,
  ].join('\n');
  const current = await readFile(DOC, 'utf8').catch(() => '# Benchmarks\n');
  const re = new RegExp(`${START}[\\s\\S]*?${END}`);
  await writeFile(DOC, re.test(current) ? current.replace(re, section) : `${current.trimEnd()}\n\n${section}\n`);
  process.stdout.write(`${section}\n\n${JSON.stringify(figures)}\n`);
}

function command(service: 'api' | 'worker', compiled: boolean): string {
  return serviceCommand(service, compiled)
    .slice(compiled ? 1 : 3)
    .join(' ');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:startup failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  void stopAllProcesses().finally(() => process.exit(1));
});
