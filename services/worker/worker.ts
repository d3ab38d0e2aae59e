/**
 * Wires the worker: a Temporal Worker (workflows bundled from workflows/index.ts, activities from
 * createActivities) and the outbox router, sharing one process. main.ts owns the process; tests
 * and the benchmark start the same thing in-process.
 */
import { fileURLToPath } from 'node:url';
import { NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import type { LogLevel, LogMetadata } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Config } from '#platform/config';
import { createDb, type Db } from '#db/connection';
import { CHANNELS } from '#domain/settings';
import { createActivities, type CreateActivitiesOptions } from '#activities/index';
import { deliveryFromConfig, providersFromConfig } from '#providers/registry';
import { Enroller } from '#engine/enroller';
import { OutboxRouter } from '#engine/router';
import { Reconciler } from '#engine/reconciler';
import { createWorkerMetrics, type WorkerMetrics } from './metrics';
import { sweepActivities } from '#engine/sweeper';
import { workspacesWithSweeps } from '#db/sweeps';
import { sweepIntervalMs } from '#platform/config';
import { ensureSweepSchedule } from '#engine/sweep-schedules';
import { Notifier } from '#engine/notifier';
import { createOutboundFetch } from '#platform/outbound-http';

/** A real file path: the SDK bundles the workflows itself (not vite, not tsx). */
export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

/** Defined by `npm run build` (scripts/build.ts) only: the workflow bundle it wrote beside the compiled worker. */
declare const FOLLOWUP_WORKFLOW_BUNDLE: string | undefined;

/**
 * The compiled worker loads the bundle built with it; under tsx the one TEMPORAL_WORKFLOW_BUNDLE
 * names, else the SDK bundles workflows/ at start.
 */
const workflowCode = (config: Config): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> =>
  typeof FOLLOWUP_WORKFLOW_BUNDLE === 'string'
    ? { workflowBundle: { codePath: fileURLToPath(new URL(FOLLOWUP_WORKFLOW_BUNDLE, import.meta.url)) } }
    : config.TEMPORAL_WORKFLOW_BUNDLE
      ? { workflowBundle: { codePath: config.TEMPORAL_WORKFLOW_BUNDLE } }
      : { workflowsPath: WORKFLOWS_PATH };

let runtimeInstalled = false;

/** Forwards the Temporal runtime's logs (SDK and Rust core) to pino. Once per process. */
export function installTemporalRuntime(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const log = logger.child({ component: 'temporal' });
  const levels: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
    TRACE: 'trace',
    DEBUG: 'debug',
    INFO: 'info',
    WARN: 'warn',
    ERROR: 'error',
  };
  const at = (level: LogLevel) => (message: string, meta?: LogMetadata) => log[levels[level]](meta ?? {}, message);
  Runtime.install({
    logger: {
      log: (level, message, meta) => at(level)(message, meta),
      trace: at('TRACE'),
      debug: at('DEBUG'),
      info: at('INFO'),
      warn: at('WARN'),
      error: at('ERROR'),
    },
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
    // The process decides when to stop (main.ts), not the runtime's own signal hook.
    shutdownSignals: [],
  });
}

/**
 * Every workspace with an active date or inactivity trigger has its sweep schedule, on this
 * SWEEP_INTERVAL (activation ensures it too; this heals a schedule lost or an interval changed).
 * A failure is logged, not fatal: the worker's other work goes on.
 */
async function ensureSweepSchedules(db: Db, temporal: Client, config: Config, logger: Logger): Promise<void> {
  try {
    for (const workspaceId of await workspacesWithSweeps(db)) {
      await ensureSweepSchedule(temporal, { workspaceId, taskQueue: config.TEMPORAL_TASK_QUEUE, intervalMs: sweepIntervalMs(config) });
    }
  } catch (err) {
    logger.error({ err }, 'could not ensure the sweep schedules');
  }
}

export interface EngineOptions {
  config: Config;
  logger: Logger;
  /** The client the router starts and signals with. */
  temporal: Client;
  /** Overrides for the activities (test providers, clock). */
  activities?: Omit<CreateActivitiesOptions, 'db'>;
  /** Extra Worker options (tests: smaller caches, an identity). */
  worker?: Partial<WorkerOptions>;
  /** false: only the Temporal worker, no router and no reconciler (a second worker process, tests). */
  router?: boolean;
  /** false: no notification delivery to the backend's webhook endpoints. */
  notifier?: boolean;
}

export interface Engine {
  worker: Worker;
  router: OutboxRouter | undefined;
  reconciler: Reconciler | undefined;
  /** The worker's metrics (main.ts serves them on WORKER_METRICS_PORT). */
  metrics: WorkerMetrics;
  notifier: Notifier | undefined;
  /** Resolves when the worker has stopped (after shutdown(), or on a fatal error). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

export async function startEngine(opts: EngineOptions): Promise<Engine> {
  const { config, logger } = opts;
  installTemporalRuntime(logger);
  const db = createDb(config.DATABASE_URL, { max: config.DATABASE_POOL_SIZE });
  const routerDb = createDb(config.DATABASE_URL, { max: 12 });
  const providers = providersFromConfig(config);
  const sandboxed = CHANNELS.filter((c) => !(opts.activities?.providers ?? providers)[c]);
  if (sandboxed.length > 0)
    logger.info({ sandboxed }, `sandboxed channels (no provider credentials; messages stored as "sandboxed", nothing sent): ${sandboxed.join(', ')}`);
  // Outbound HTTP to the backend reaches public addresses only (unless WEBHOOK_ALLOW_PRIVATE).
  const outboundFetch = createOutboundFetch({ allowPrivate: config.WEBHOOK_ALLOW_PRIVATE, timeoutMs: config.WEBHOOK_TIMEOUT_MS });
  let connection: NativeConnection | undefined;
  try {
    connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
    const worker = await Worker.create({
      connection,
      namespace: config.TEMPORAL_NAMESPACE,
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      ...workflowCode(config),
      activities: {
        ...createActivities({
          db,
          logger: logger.child({ component: 'activities' }),
          providers,
          delivery: deliveryFromConfig(config),
          fetch: outboundFetch,
          ...opts.activities,
        }),
        ...sweepActivities({
          db,
          enroller: new Enroller({ db, temporal: opts.temporal, taskQueue: config.TEMPORAL_TASK_QUEUE }),
          logger: logger.child({ component: 'sweeps' }),
        }),
      },
      shutdownGraceTime: '10s',
      ...opts.worker,
    });
    const metrics = createWorkerMetrics(routerDb);
    const router =
      opts.router === false
        ? undefined
        : new OutboxRouter({
            db: routerDb,
            temporal: opts.temporal,
            enroller: new Enroller({ db: routerDb, temporal: opts.temporal, taskQueue: config.TEMPORAL_TASK_QUEUE }),
            databaseUrl: config.DATABASE_URL,
            batchSize: config.ROUTER_BATCH_SIZE,
            pollMs: config.ROUTER_POLL_MS,
            maxAttempts: config.ROUTER_MAX_ATTEMPTS,
            deadLettered: metrics.deadLettered,
            logger: logger.child({ component: 'router' }),
          });
    const reconciler =
      opts.router === false
        ? undefined
        : new Reconciler({
            db: routerDb,
            temporal: opts.temporal,
            intervalMs: config.RECONCILE_INTERVAL_MS,
            logger: logger.child({ component: 'reconciler' }),
          });
    const notifier =
      opts.notifier === false
        ? undefined
        : new Notifier({
            db: routerDb,
            databaseUrl: config.DATABASE_URL,
            fetch: outboundFetch,
            timeoutMs: config.WEBHOOK_TIMEOUT_MS,
            retryBaseMs: config.WEBHOOK_RETRY_BASE_MS,
            maxAttempts: config.WEBHOOK_MAX_ATTEMPTS,
            deadLettered: metrics.notificationsDeadLettered,
            pollMs: config.ROUTER_POLL_MS,
            logger: logger.child({ component: 'notifier' }),
          });
    const running = worker.run();
    await router?.start();
    reconciler?.start();
    if (opts.router !== false) await ensureSweepSchedules(db, opts.temporal, config, logger);
    await notifier?.start();
    const conn = connection;
    const done = running.finally(async () => {
      await Promise.all([router?.stop(), reconciler?.stop(), notifier?.stop()]);
      await conn.close().catch(() => undefined);
      await Promise.all([db.destroy(), routerDb.destroy()]);
    });
    let stopping: Promise<void> | undefined;
    return {
      worker,
      router,
      reconciler,
      metrics,
      notifier,
      done,
      shutdown() {
        stopping ??= (async () => {
          await Promise.all([router?.stop(), reconciler?.stop(), notifier?.stop()]);
          if (worker.getState() === 'RUNNING') worker.shutdown();
          await done;
        })();
        return stopping;
      },
    };
  } catch (err) {
    await connection?.close().catch(() => undefined);
    await Promise.all([db.destroy(), routerDb.destroy()]);
    throw err;
  }
}
