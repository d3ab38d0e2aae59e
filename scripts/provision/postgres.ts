/**
 * PostgreSQL for `npm start` and `npm test`: the server named by a URL, or a private cluster in the
 * clone's data folder run with the machine's own PostgreSQL binaries (Debian's, installed with
 * apt-get when missing and we are root). PostgreSQL refuses to run as root, so as root the cluster
 * belongs to the `postgres` system user and every initdb/pg_ctl runs as that user.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, chmod, chown, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import pg from 'pg';
import { SetupError } from './settings';
import { aptInstall, freePort, isExecutable, isPortFree, isRoot, onExitSync, run, runOk, tailFile, which, type Log } from './proc';

const PG_USER = 'postgres';

export interface PgBinaries {
  initdb: string;
  pgCtl: string;
  major: string;
}

async function findPgBinaries(): Promise<PgBinaries | undefined> {
  const versioned = await readdir('/usr/lib/postgresql').catch(() => [] as string[]);
  const extra = versioned.sort((a, b) => Number(b) - Number(a)).map((v) => `/usr/lib/postgresql/${v}/bin`);
  const initdb = await which('initdb', extra);
  if (!initdb) return undefined;
  // pg_ctl from the same installation as initdb (a PATH entry is often a symlink into it).
  const binDir = dirname(await realpath(initdb));
  const pgCtl = join(binDir, 'pg_ctl');
  if (!(await isExecutable(pgCtl))) return undefined;
  const { stdout } = await run(initdb, ['--version']);
  const major = /(\d+)(?:\.\d+)?/.exec(stdout)?.[1] ?? '?';
  return { initdb, pgCtl, major };
}

export async function ensurePgBinaries(log: Log): Promise<PgBinaries> {
  const found = await findPgBinaries();
  if (found) return found;
  await aptInstall(
    ['postgresql'],
    log,
    'PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin). Install it (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL to a server you run.',
  );
  const installed = await findPgBinaries();
  if (!installed) throw new SetupError('apt-get installed postgresql but initdb/pg_ctl are still not found in /usr/lib/postgresql/*/bin');
  return installed;
}

/** The command line that runs a PostgreSQL binary as the cluster's owner: ourselves, or postgres when we are root. */
async function asOwner(command: string, args: string[]): Promise<[string, string[]]> {
  if (!isRoot()) return [command, args];
  if (await which('runuser')) return ['runuser', ['-u', PG_USER, '--', command, ...args]];
  const quoted = [command, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['su', [PG_USER, '-s', '/bin/sh', '-c', quoted]];
}

async function runAsOwner(what: string, command: string, args: string[]) {
  const [cmd, argv] = await asOwner(command, args);
  return runOk(what, cmd, argv, { cwd: '/' });
}

async function pgUserIds(log: Log): Promise<{ uid: number; gid: number }> {
  const lookup = async () => {
    const passwd = await readFile('/etc/passwd', 'utf8');
    const line = passwd.split('\n').find((l) => l.startsWith(`${PG_USER}:`));
    if (!line) return undefined;
    const [, , uid, gid] = line.split(':');
    return { uid: Number(uid), gid: Number(gid) };
  };
  const ids = await lookup();
  if (ids) return ids;
  log(`creating the "${PG_USER}" system user: PostgreSQL refuses to run as root`);
  await runOk('useradd', 'useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', PG_USER]);
  const created = await lookup();
  if (!created) throw new SetupError(`could not create the ${PG_USER} system user`);
  return created;
}

/**
 * As root: the cluster folder belongs to postgres, which must reach it through every folder above.
 * Those are not ours to open (a clone in /root or a mktemp folder is private), so a clone postgres
 * cannot reach keeps its cluster in a folder of its own under the OS temp folder instead.
 */
async function clusterRootAsRoot(root: string, log: Log): Promise<string> {
  const { uid, gid } = await pgUserIds(log);
  const own = async (dir: string) => {
    await mkdir(dir, { recursive: true });
    await chown(dir, uid, gid);
    await chmod(dir, 0o700);
  };
  await own(root);
  const [cmd, argv] = await asOwner('test', ['-x', root]);
  if ((await run(cmd, argv, { cwd: '/' })).code === 0) return root;
  const elsewhere = join(tmpdir(), `followup-postgres-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`);
  await own(elsewhere);
  log(`the ${PG_USER} user cannot reach ${root} (a folder above it has no o+x): this clone's cluster lives in ${elsewhere}`);
  return elsewhere;
}

export interface LocalPostgres {
  port: number;
  /** False when the cluster was already running (another `npm start` or `npm test`): we leave it running. */
  owned: boolean;
  url(database: string): string;
  stop(): Promise<void>;
  /** Stops the server (`fast`: sessions closed cleanly; `immediate`: a crash, recovered at start), keeps it down for `downMs`, starts it again (the fault tests). */
  restart(mode: 'fast' | 'immediate', downMs: number): Promise<void>;
}

/**
 * Starts (creating on first use) the cluster in `root`: `root/data` is PGDATA, `root/postgres.log`
 * its log. Listens on 127.0.0.1 only, trusts loopback connections, no Unix socket.
 * `anyPort`: when `port` is taken by something else, take a free one (tests) instead of failing.
 */
export async function startLocalPostgres(opts: { root: string; port: number; anyPort?: boolean; log: Log }): Promise<LocalPostgres> {
  const { log } = opts;
  await mkdir(opts.root, { recursive: true });
  const root = isRoot() ? await clusterRootAsRoot(opts.root, log) : opts.root;
  const bins = await ensurePgBinaries(log);
  const data = join(root, 'data');
  const logFile = join(root, 'postgres.log');
  const ownerFile = join(root, 'owner.pid');
  const url = (port: number) => (database: string) => `postgres://${PG_USER}@127.0.0.1:${port}/${database}`;

  const existing = await readFile(join(data, 'PG_VERSION'), 'utf8').then(
    (v) => v.trim(),
    () => undefined,
  );
  if (existing === undefined) {
    log(`creating a PostgreSQL ${bins.major} cluster in ${data}`);
    await runAsOwner('initdb', bins.initdb, ['-D', data, '-U', PG_USER, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']);
    await appendFile(
      join(data, 'postgresql.conf'),
      [
        '',
        '# Written by scripts/provision/postgres.ts: a private development cluster.',
        "listen_addresses = '127.0.0.1'",
        "unix_socket_directories = ''",
        'max_connections = 200',
        '',
      ].join('\n'),
    );
  } else if (existing !== bins.major) {
    throw new SetupError(
      `the cluster in ${data} was created by PostgreSQL ${existing} but this machine has PostgreSQL ${bins.major}: delete ${root} (local data is lost) or set DATABASE_URL`,
    );
  }

  const [statusCmd, statusArgs] = await asOwner(bins.pgCtl, ['-D', data, 'status']);
  const running = (await run(statusCmd, statusArgs, { cwd: '/' })).code === 0;
  const stopArgs = await asOwner(bins.pgCtl, ['-D', data, '-m', 'fast', '-w', 'stop']);
  let forget = () => {};
  const own = async () => {
    await writeFile(ownerFile, String(process.pid));
    forget = onExitSync(() => spawnSync(stopArgs[0], stopArgs[1], { cwd: '/', stdio: 'ignore', timeout: 30_000 }));
  };
  const stop = async () => {
    forget();
    await runOk('pg_ctl stop', stopArgs[0], stopArgs[1], { cwd: '/' });
    await rm(ownerFile, { force: true });
  };
  const restartAt = (port: number) => async (mode: 'fast' | 'immediate', downMs: number) => {
    await runAsOwner('pg_ctl stop', bins.pgCtl, ['-D', data, '-m', mode, '-w', 'stop']);
    await new Promise((r) => setTimeout(r, downMs));
    await runAsOwner('pg_ctl start', bins.pgCtl, ['-D', data, '-l', logFile, '-o', `-p ${port}`, '-w', '-t', '60', 'start']);
  };
  if (running) {
    // Line 4 of postmaster.pid is the port the running server listens on.
    const port = Number((await readFile(join(data, 'postmaster.pid'), 'utf8')).split('\n')[3]);
    // Started by a live `npm start`/`npm test`: share it and leave it to them. Started by one that
    // died without cleaning up: adopt it, so that it is stopped when we stop.
    const owner = Number(await readFile(ownerFile, 'utf8').catch(() => ''));
    if (owner && !isAlive(owner)) {
      await own();
      log(`PostgreSQL was left running on port ${port} by an earlier run; taking it over`);
      return { port, owned: true, url: url(port), stop, restart: restartAt(port) };
    }
    log(`PostgreSQL is already running from ${data} on port ${port}${owner ? ` (started by process ${owner})` : ''}; sharing it`);
    return { port, owned: false, url: url(port), stop: async () => {}, restart: notOurs };
  }

  let port = opts.port;
  if (!(await isPortFree(port))) {
    if (!opts.anyPort)
      throw new SetupError(
        `FOLLOWUP_PG_PORT: port ${port} on 127.0.0.1 is in use by another program; set FOLLOWUP_PG_PORT to a free port (or DATABASE_URL to a server you run)`,
      );
    port = await freePort();
    log(`port ${opts.port} is taken; the test cluster uses ${port}`);
  }
  try {
    await runAsOwner('pg_ctl start', bins.pgCtl, ['-D', data, '-l', logFile, '-o', `-p ${port}`, '-w', '-t', '60', 'start']);
  } catch (err) {
    throw new SetupError(`PostgreSQL did not start. ${(err as Error).message}\n  ${logFile}:\n${await tailFile(logFile, 15)}`);
  }
  await own();
  return { port, owned: true, url: url(port), stop, restart: restartAt(port) };
}

const notOurs = async () => {
  throw new SetupError('this PostgreSQL was started by another run: only the run that started it restarts it');
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describeConnectError(envName: string, url: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException & { code?: string };
  const where = (() => {
    try {
      const u = new URL(url);
      return `${u.hostname}:${u.port || 5432}`;
    } catch {
      return url;
    }
  })();
  switch (e.code) {
    case 'ECONNREFUSED':
      return `${envName}: nothing accepts connections at ${where}; is PostgreSQL running there?`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `${envName}: host of ${where} is not known`;
    case '28P01':
    case '28000':
      return `${envName}: PostgreSQL at ${where} refused the user or password (${e.message})`;
    default:
      return `${envName}: cannot connect to PostgreSQL at ${where}: ${e.message ?? String(err)}`;
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const databaseName = (url: string) => decodeURIComponent(new URL(url).pathname.slice(1));

/**
 * Proves `url` answers. When only its database is missing, creates it through the server's
 * `postgres` maintenance database. Connection problems become SetupErrors naming `envName`.
 */
export async function ensureDatabase(url: string, envName = 'DATABASE_URL'): Promise<void> {
  try {
    await withClient(url, (c) => c.query('select 1'));
    return;
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw new SetupError(describeConnectError(envName, url, err), { cause: err });
  }
  const database = databaseName(url);
  try {
    await withClient(withDatabase(url, 'postgres'), (c) => c.query(`create database ${quoteIdent(database)}`));
  } catch (err) {
    throw new SetupError(`${envName}: database "${database}" does not exist and could not be created: ${(err as Error).message}`, { cause: err });
  }
}

/** Drops and creates `url`'s database: a fresh, empty database for a test run. */
export async function recreateDatabase(url: string, envName = 'FOLLOWUP_TEST_DATABASE_URL'): Promise<void> {
  const database = databaseName(url);
  try {
    await withClient(withDatabase(url, 'postgres'), async (c) => {
      await c.query(`drop database if exists ${quoteIdent(database)} with (force)`);
      await c.query(`create database ${quoteIdent(database)}`);
    });
  } catch (err) {
    throw new SetupError(describeConnectError(envName, url, err), { cause: err });
  }
}

const clonePrefix = (templateUrl: string) => `${databaseName(templateUrl)}_clone_`;

/**
 * A new database on the server of `templateUrl`, a copy of its database (file by file: no
 * migrations run), which must have no open sessions meanwhile. Answers the copy's URL.
 */
export async function cloneDatabase(templateUrl: string): Promise<string> {
  const name = `${clonePrefix(templateUrl)}${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await withClient(withDatabase(templateUrl, 'postgres'), (c) =>
    c.query(`create database ${quoteIdent(name)} template ${quoteIdent(databaseName(templateUrl))}`),
  );
  return withDatabase(templateUrl, name);
}

/** Drops the database of `url` (its sessions are closed). */
export async function dropDatabase(url: string): Promise<void> {
  await withClient(withDatabase(url, 'postgres'), (c) => c.query(`drop database if exists ${quoteIdent(databaseName(url))} with (force)`));
}

/** Drops every copy cloneDatabase made of `templateUrl`'s database. */
export async function dropClones(templateUrl: string): Promise<void> {
  await withClient(withDatabase(templateUrl, 'postgres'), async (c) => {
    const { rows } = await c.query<{ datname: string }>('select datname from pg_database where starts_with(datname, $1)', [clonePrefix(templateUrl)]);
    for (const { datname } of rows) await c.query(`drop database if exists ${quoteIdent(datname)} with (force)`);
  });
}
