/**
 * Variables that only `npm start` and `npm test` read: where tools and local data live and which
 * ports the local PostgreSQL and Temporal get. The services never see these; what they read is in
 * platform/config.ts. Both lists are documented in .env.example.
 */
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A problem the person running the command can fix; printed as is, without a stack trace. */
export class SetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SetupError';
  }
}

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** docs/operations.md §2.1: later tags of the CLI module carry a `replace` directive and cannot be `go install`ed. */
export const TEMPORAL_CLI_VERSION = 'v1.5.1';
export const TEST_SERVER_VERSION = '1.38.0';
/** `npm run start:cluster`: the versions docker-compose.yml pins (test/unit/cluster-compose.test.ts checks). */
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
export const TEMPORAL_UI_VERSION = 'v2.42.1';

export interface ProvisionSettings {
  /** Built tools shared by every clone (the Temporal CLI, the test server jars). */
  toolsDir: string;
  /** This clone's local state: PostgreSQL cluster, Temporal's SQLite file, the dev API key. */
  dataDir: string;
  pgPort: number;
  temporalPort: number;
  temporalUiPort: number;
  testTemporalPort: number;
  testTemporalUiPort: number;
  /** A PostgreSQL server for tests instead of the local cluster; its `followup_test` database is recreated. */
  testDatabaseUrl?: string;
  /** A Temporal frontend for tests instead of a dev server started for the run. */
  testTemporalAddress?: string;
  /** `npm run start:cluster`: how many API and worker processes. */
  clusterApis: number;
  clusterWorkers: number;
}

export function loadProvisionSettings(env: NodeJS.ProcessEnv = process.env): ProvisionSettings {
  const problems: string[] = [];
  const port = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) problems.push(`${name}: must be a port number from 1 to 65535 (got "${raw}")`);
    return n;
  };
  const count = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 16) problems.push(`${name}: must be a whole number from 1 to 16 (got "${raw}")`);
    return n;
  };
  const url = (name: string): string | undefined => {
    const raw = env[name];
    if (!raw) return undefined;
    if (!/^postgres(ql)?:\/\/[^/]+\/[^/?]+/.test(raw)) problems.push(`${name}: expected postgres://user:password@host:port/database`);
    return raw;
  };
  const cacheHome = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const settings: ProvisionSettings = {
    toolsDir: resolve(env.FOLLOWUP_TOOLS_DIR || join(cacheHome, 'followup', 'tools')),
    dataDir: resolve(REPO_ROOT, env.FOLLOWUP_DATA_DIR || '.data'),
    pgPort: port('FOLLOWUP_PG_PORT', 54329),
    temporalPort: port('TEMPORAL_PORT', 7233),
    temporalUiPort: port('TEMPORAL_UI_PORT', 8233),
    testTemporalPort: port('FOLLOWUP_TEST_TEMPORAL_PORT', 7244),
    testTemporalUiPort: port('FOLLOWUP_TEST_TEMPORAL_UI_PORT', 8244),
    testDatabaseUrl: url('FOLLOWUP_TEST_DATABASE_URL'),
    testTemporalAddress: env.FOLLOWUP_TEST_TEMPORAL_ADDRESS || undefined,
    clusterApis: count('FOLLOWUP_CLUSTER_APIS', 2),
    clusterWorkers: count('FOLLOWUP_CLUSTER_WORKERS', 2),
  };
  if (settings.testTemporalAddress && !/^[^:\s]+:\d{1,5}$/.test(settings.testTemporalAddress)) {
    problems.push(`FOLLOWUP_TEST_TEMPORAL_ADDRESS: "${settings.testTemporalAddress}" is not host:port`);
  }
  if (problems.length > 0) throw new SetupError(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return settings;
}
