/**
 * What test/setup/global-setup.ts provisioned for this run, typed. Available in the `workflow` and
 * `integration` projects (test/workflow/**, test/integration/**); unit tests get nothing.
 *
 *   testDatabaseUrl()        postgres URL of this test file's own migrated database
 *   workflowBundle()         the workflow code bundled once for the run, for Worker options
 *   temporalAddress()        host:port of a Temporal dev server for this run (namespace "default")
 *   testServerPath()         the time-skipping test server, for @temporalio/testing
 *   createTimeSkippingEnv()  a TestWorkflowEnvironment on it, with the search attributes (docs/design.md §6.4)
 *   createLocalEnv()         a TestWorkflowEnvironment on a private dev server (the built CLI)
 *   serviceEnv()             environment for starting the API or the worker against all of it
 */
import { inject } from 'vitest';
import { TestWorkflowEnvironment, type TimeSkippingTestWorkflowEnvironmentOptions, type LocalTestWorkflowEnvironmentOptions } from '@temporalio/testing';
import { SEARCH_ATTRIBUTES, searchAttributeArgs } from '#scripts/provision/temporal';

export interface TestInfra {
  /** The migrated template; a test file reads its own copy (test/setup/file-database.ts) through testEnv(). */
  databaseUrl: string;
  temporalAddress: string;
  temporalNamespace: string;
  /** The test dev server's Web UI, for looking at what a failing test did. */
  temporalUiUrl?: string;
  temporalCliPath: string;
  testServerPath: string;
  /** workflows/index.ts bundled by the SDK, once for the run. */
  workflowBundlePath: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    followup: TestInfra;
  }
}

let fileDatabaseUrl: string | undefined;

/** test/setup/file-database.ts: this file's own database, which testEnv() answers from now on. */
export function useFileDatabase(url: string): void {
  fileDatabaseUrl = url;
}

/** Everything provisioned for this run, with this file's database; throws in a project that provisions nothing. */
export function testEnv(): TestInfra {
  const infra = inject('followup');
  if (!infra) {
    throw new Error(
      'No test services were provisioned for this file: tests that need PostgreSQL or Temporal belong in test/integration or test/workflow (see vitest.config.ts).',
    );
  }
  return fileDatabaseUrl ? { ...infra, databaseUrl: fileDatabaseUrl } : infra;
}

export const testDatabaseUrl = (): string => testEnv().databaseUrl;
export const temporalAddress = (): string => testEnv().temporalAddress;
export const testServerPath = (): string => testEnv().testServerPath;
export const temporalCliPath = (): string => testEnv().temporalCliPath;
export const workflowBundle = (): { codePath: string } => ({ codePath: testEnv().workflowBundlePath });

/**
 * Environment for a service process (services/api/server.ts, services/worker/main.ts) or for
 * loadConfig() in a test: the provisioned database and Temporal, quiet logs, test mode.
 */
export function serviceEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const infra = testEnv();
  return {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    // Tests' webhook endpoints listen on loopback.
    WEBHOOK_ALLOW_PRIVATE: 'true',
    DATABASE_URL: infra.databaseUrl,
    TEMPORAL_ADDRESS: infra.temporalAddress,
    TEMPORAL_NAMESPACE: infra.temporalNamespace,
    // The run's bundle: a worker bundling workflows/ itself spends seconds of CPU at each start.
    TEMPORAL_WORKFLOW_BUNDLE: infra.workflowBundlePath,
    ...(infra.temporalUiUrl ? { TEMPORAL_UI_URL: infra.temporalUiUrl } : {}),
    ...overrides,
  };
}

const INDEXED_VALUE_TYPE = { Keyword: 2, Int: 3 } as const; // temporal.api.enums.v1.IndexedValueType

/**
 * A time-skipping environment (one per test file: time skipping is global to it) on the Java test
 * server from Maven Central, with the enrollment search attributes registered.
 */
/**
 * The SDK gives an ephemeral server (the test server's JVM, a dev server) 5 s to listen, which a loaded machine (a CI box running other
 * jobs) can exceed: "ephemeral server ... did not start within 5s". A slow start is retried; any
 * other failure is not.
 */
async function startWithRetries<T>(start: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= attempts || !/did not start within/.test(String(err))) throw err;
    }
  }
}

export async function createTimeSkippingEnv(
  opts: Omit<TimeSkippingTestWorkflowEnvironmentOptions, 'server'> & { server?: { extraArgs?: string[] } } = {},
): Promise<TestWorkflowEnvironment> {
  const env = await startWithRetries(() =>
    TestWorkflowEnvironment.createTimeSkipping({
      ...opts,
      server: { ...opts.server, executable: { type: 'existing-path', path: testServerPath() } },
    }),
  );
  await env.connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, INDEXED_VALUE_TYPE[type]])),
  });
  return env;
}

/** A private dev server (no time skipping) from the built Temporal CLI, bound to 127.0.0.1, with the search attributes. */
export async function createLocalEnv(
  opts: Omit<LocalTestWorkflowEnvironmentOptions, 'server'> & { server?: { extraArgs?: string[] } } = {},
): Promise<TestWorkflowEnvironment> {
  return startWithRetries(() =>
    TestWorkflowEnvironment.createLocal({
      ...opts,
      server: {
        ip: '127.0.0.1',
        ...opts.server,
        executable: { type: 'existing-path', path: temporalCliPath() },
        extraArgs: [...searchAttributeArgs(), ...(opts.server?.extraArgs ?? [])],
      },
    }),
  );
}
