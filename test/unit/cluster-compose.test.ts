/**
 * docker-compose.yml and `npm run start:cluster` describe one production shape: the same versions,
 * the same config files, the same variables. This reads both and fails where they drift.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigSchema } from '#platform/config';
import { REPO_ROOT, TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } from '#scripts/provision/settings';
import { SEARCH_ATTRIBUTES } from '#scripts/provision/temporal';
import { serviceCommand } from '#scripts/provision/services';
import { SCHEMAS, SERVER_CONFIG_DIR, SERVER_CONFIG_ENV, serverEnv, TEMPORAL_DATABASES, UI_CONFIG_DIR, uiEnv } from '#scripts/provision/temporal-server';

interface Service {
  image?: string;
  entrypoint?: string[];
  command?: string[] | string;
  volumes?: string[];
  environment?: Record<string, string>;
}
const compose = parse(readFileSync(join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
const service = (name: string): Service => compose.services[name]!;
const script = (name: string): string => [service(name).command].flat().join('\n');
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
/** The variables a config template reads with `env "NAME"`. */
const templateVars = (path: string) => new Set([...read(path).matchAll(/env "([A-Z0-9_]+)"/g)].map((m) => m[1]!));
const tag = (image: string | undefined) => image?.split(':')[1];
const v = (version: string) => version.replace(/^v/, '');

describe('docker-compose.yml and npm run start:cluster agree', () => {
  it('pin the same Temporal server, schema tool and UI versions', () => {
    expect(tag(service('temporal').image)).toBe(v(TEMPORAL_SERVER_VERSION));
    expect(tag(service('temporal-schema').image)).toMatch(new RegExp(`^${v(TEMPORAL_SERVER_VERSION)}-`));
    expect(tag(service('temporal-setup').image)).toMatch(new RegExp(`^${v(TEMPORAL_SERVER_VERSION)}-`));
    expect(tag(service('temporal-ui').image)).toBe(v(TEMPORAL_UI_VERSION));
  });

  it('run the Temporal server with the repository config file and the same variables', () => {
    const temporal = service('temporal');
    const env = temporal.environment!;
    expect(temporal.entrypoint).toEqual(['temporal-server', 'start']);
    expect(temporal.volumes).toContain(`./${SERVER_CONFIG_DIR}:${env.TEMPORAL_ROOT}/${env.TEMPORAL_CONFIG_DIR}:ro`);
    expect(env.TEMPORAL_ENVIRONMENT).toBe(SERVER_CONFIG_ENV);
    read(`${SERVER_CONFIG_DIR}/${SERVER_CONFIG_ENV}.yaml`); // the file the server loads exists

    const native = serverEnv('postgres://postgres:secret@127.0.0.1:54329/followup', 7233);
    // The native run also moves every port (several clusters on one machine); compose keeps the defaults.
    const portVars = Object.keys(native).filter((k) => k.endsWith('_PORT') && k !== 'DB_PORT');
    expect(Object.keys(env).sort()).toEqual(
      Object.keys(native)
        .filter((k) => !portVars.includes(k))
        .sort(),
    );
    const reads = templateVars(`${SERVER_CONFIG_DIR}/${SERVER_CONFIG_ENV}.yaml`);
    // The server binary reads these four itself (its flags --root, --config, --env, --allow-no-auth).
    const ownFlags = ['TEMPORAL_ROOT', 'TEMPORAL_CONFIG_DIR', 'TEMPORAL_ENVIRONMENT', 'TEMPORAL_ALLOW_NO_AUTH'];
    for (const name of Object.keys(native).filter((k) => !ownFlags.includes(k))) expect(reads, name).toContain(name);
    // And with the default ports, the native values are the config's defaults.
    expect(native.FRONTEND_GRPC_PORT).toBe('7233');
  });

  it('set up the same databases and schemas', () => {
    const setup = script('temporal-schema');
    expect(setup).toContain(`for db in ${TEMPORAL_DATABASES.join(' ')}`);
    for (const db of TEMPORAL_DATABASES) expect(setup).toContain(`sql --db ${db} update-schema --schema-name ${SCHEMAS[db]}`);
  });

  it('register the same namespace retention and search attributes', () => {
    const setup = script('temporal-setup');
    expect(setup).toContain('--retention 720h');
    const listed = /for sa in ([^;]+);/.exec(setup)![1]!.trim().split(/\s+/);
    expect(listed).toEqual(Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => `${name}=${type}`));
  });

  it('run the Web UI with the repository config file and the same variables', () => {
    const ui = service('temporal-ui');
    expect(ui.volumes).toContain(`./${UI_CONFIG_DIR}/docker.yaml:/home/ui-server/config/docker.yaml:ro`);
    const native = uiEnv({ address: '127.0.0.1:7233', port: 8233, corsOrigins: ['http://127.0.0.1:3000'] });
    const reads = templateVars(`${UI_CONFIG_DIR}/docker.yaml`);
    expect(Object.keys(ui.environment!).sort()).toEqual(
      Object.keys(native)
        .filter((k) => reads.has(k))
        .sort(),
    );
  });

  it('run the same compiled services', () => {
    for (const name of ['api', 'worker', 'migrate'] as const) {
      expect(service(name).command).toEqual(['node', ...serviceCommand(name, true).slice(1)]);
    }
    expect(read('Dockerfile')).toContain('RUN npm run build');
    expect(read('Dockerfile')).toContain(`CMD ${JSON.stringify(['node', ...serviceCommand('api', true).slice(1)]).replace(/,/g, ', ')}`);
  });

  it('give the API and the worker only variables the services know', () => {
    const known = Object.keys(ConfigSchema.properties).concat('LOG_FORMAT');
    for (const name of ['api', 'worker', 'migrate']) {
      for (const key of Object.keys(service(name).environment ?? {})) expect(known, `${name}: ${key}`).toContain(key);
    }
  });
});
