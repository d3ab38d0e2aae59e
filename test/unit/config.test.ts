/**
 * Configuration is checked once, at start-up, and every bad variable is named in the message:
 * platform/config.ts for the services, scripts/provision/settings.ts for npm start/test.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redact } from '#platform/config';
import { createLogger } from '#platform/logger';
import { loadProvisionSettings, SetupError } from '#scripts/provision/settings';

const valid = { DATABASE_URL: 'postgres://app:secret@127.0.0.1:5432/followup' };

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills every default from a minimal environment', () => {
    const config = loadConfig(valid);
    expect(config).toMatchObject({
      NODE_ENV: 'development',
      HOST: '127.0.0.1',
      PORT: 3000,
      TEMPORAL_ADDRESS: '127.0.0.1:7233',
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_UI_URL: 'http://127.0.0.1:8233',
    });
    expect(config.ADMIN_TOKEN).toBeUndefined();
  });

  it('derives PUBLIC_URL from PORT unless set, without a trailing slash', () => {
    expect(loadConfig({ ...valid, PORT: '8080' }).PUBLIC_URL).toBe('http://127.0.0.1:8080');
    expect(loadConfig({ ...valid, PUBLIC_URL: 'https://fu.example.com/' }).PUBLIC_URL).toBe('https://fu.example.com');
    expect(problems({ ...valid, PUBLIC_URL: 'fu.example.com' })).toEqual(['PUBLIC_URL: "fu.example.com" is not an http(s) URL']);
  });

  it('refuses the development SECRETS_KEY in production', () => {
    expect(loadConfig(valid).SECRETS_KEY.length).toBeGreaterThanOrEqual(32);
    expect(problems({ ...valid, NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^SECRETS_KEY: must be set in production/)]);
    expect(loadConfig({ ...valid, NODE_ENV: 'production', SECRETS_KEY: 's'.repeat(32) }).SECRETS_KEY).toBe('s'.repeat(32));
  });

  it('converts numeric strings', () => {
    expect(loadConfig({ ...valid, PORT: '8080', DATABASE_POOL_SIZE: '3' })).toMatchObject({ PORT: 8080, DATABASE_POOL_SIZE: 3 });
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ ...valid, PORT: '' }).PORT).toBe(3000);
  });

  it('requires DATABASE_URL', () => {
    expect(problems({})).toEqual(['DATABASE_URL: is required']);
  });

  it.each([
    ['PORT', 'abc', /^PORT: .*\(got "abc"\)$/],
    ['PORT', '70000', /^PORT: .*65535.*\(got "70000"\)$/],
    ['PORT', '0', /^PORT: .*\(got "0"\)$/],
    ['LOG_LEVEL', 'loud', /^LOG_LEVEL: is not one of the allowed values \(got "loud"\)$/],
    ['NODE_ENV', 'staging', /^NODE_ENV: is not one of the allowed values \(got "staging"\)$/],
    ['DATABASE_POOL_SIZE', '0', /^DATABASE_POOL_SIZE: .*\(got "0"\)$/],
    ['ADMIN_TOKEN', 'short', /^ADMIN_TOKEN: .*16.*\(got "5 characters, hidden"\)$/],
    ['ROUTER_POLL_MS', '10', /^ROUTER_POLL_MS: .*50.*\(got "10"\)$/],
  ])('names %s when it is %j', (name, value, message) => {
    const found = problems({ ...valid, [name]: value });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(message);
  });

  it('lists every bad variable at once', () => {
    const found = problems({ PORT: 'x', LOG_LEVEL: 'loud', BODY_LIMIT_BYTES: '1' });
    expect(found.map((p) => p.split(':')[0]).sort()).toEqual(['BODY_LIMIT_BYTES', 'DATABASE_URL', 'LOG_LEVEL', 'PORT']);
  });

  it.each([
    ['not a url', /^DATABASE_URL: "not a url" is not a URL/],
    ['mysql://u:p@h:3306/db', /^DATABASE_URL: protocol "mysql:" is not postgres: or postgresql:$/],
    ['postgres://u@h:5432', /^DATABASE_URL: names no database/],
  ])('explains a malformed DATABASE_URL %j', (url, message) => {
    expect(problems({ DATABASE_URL: url })).toEqual([expect.stringMatching(message)]);
  });

  it('never shows a database password', () => {
    const err = (() => {
      try {
        loadConfig({ DATABASE_URL: 'mysql://app:hunter2@db:3306/x', PORT: 'x' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.message).not.toContain('hunter2');
    expect(() => loadConfig({ DATABASE_URL: 'post gres://app:hunter2@db/x' })).toThrow(/app:\*\*\*@/);
  });

  it('never shows a secret variable, only its length', () => {
    const found = problems({ ...valid, ADMIN_TOKEN: 'tooshort-secret', SECRETS_KEY: 'short-secrets-key', NODE_ENV: 'production' });
    expect(found).toEqual([
      'ADMIN_TOKEN: must not have fewer than 16 characters (got "15 characters, hidden")',
      'SECRETS_KEY: must not have fewer than 32 characters (got "17 characters, hidden")',
    ]);
  });

  it('masks passwords holding @ and password= parameters in URLs', () => {
    expect(redact('postgres://app:p@ss@w0rd@db:5432/x')).toBe('postgres://app:***@db:5432/x');
    expect(redact('postgres://db:5432/x?sslmode=require&password=hunter2&x=1')).toBe('postgres://db:5432/x?sslmode=require&password=***&x=1');
    expect(redact('postgres://db/x?sslpassword=hunter2')).toBe('postgres://db/x?sslpassword=***');
    const err = (() => {
      try {
        loadConfig({ DATABASE_URL: 'post gres://app:p@ss@db/x?password=hunter2' });
      } catch (e) {
        return e as ConfigError;
      }
    })();
    expect(err?.message).not.toMatch(/p@ss|ss@db|hunter2/);
  });

  it('logs carry no secret: headers, configs and credentials in logged objects are masked', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', name: 't', destination: { write: (line: string) => lines.push(line) } });
    logger.info(
      {
        req: { headers: { authorization: 'Bearer fk_live_secret' } },
        config: { ADMIN_TOKEN: 'admin-secret-123456', DATABASE_URL: 'postgres://a:pw@h/d' },
        provider: { authToken: 'tw-secret', apiKey: 'SG.secret' },
      },
      'hello',
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/fk_live_secret|admin-secret|:pw@|tw-secret|SG\.secret/);
  });

  it('names a TEMPORAL_ADDRESS that is not host:port', () => {
    expect(problems({ ...valid, TEMPORAL_ADDRESS: 'http://temporal:7233' })).toEqual(['TEMPORAL_ADDRESS: "http://temporal:7233" is not host:port']);
  });

  it('says what is wrong in its message, one line per variable', () => {
    expect(() => loadConfig({ ...valid, LOG_LEVEL: 'loud', PORT: 'x' })).toThrow(/^Invalid configuration:\n {2}- LOG_LEVEL: .*\n {2}- PORT: [^\n]*$/);
  });
});

describe('loadProvisionSettings (npm start / npm test)', () => {
  it('has defaults that keep tools per machine and data per clone', () => {
    const s = loadProvisionSettings({ XDG_CACHE_HOME: '/cache' });
    expect(s).toMatchObject({
      toolsDir: '/cache/followup/tools',
      pgPort: 54329,
      temporalPort: 7233,
      temporalUiPort: 8233,
      testTemporalPort: 7244,
      testTemporalUiPort: 8244,
    });
    expect(s.dataDir).toMatch(/\/\.data$/);
  });

  it('names every bad port and URL', () => {
    expect(() =>
      loadProvisionSettings({
        FOLLOWUP_PG_PORT: 'five',
        TEMPORAL_UI_PORT: '99999',
        FOLLOWUP_TEST_DATABASE_URL: 'localhost/db',
        FOLLOWUP_TEST_TEMPORAL_ADDRESS: 'nohost',
      }),
    ).toThrow(
      new SetupError(
        [
          'Invalid configuration:',
          '  - FOLLOWUP_PG_PORT: must be a port number from 1 to 65535 (got "five")',
          '  - TEMPORAL_UI_PORT: must be a port number from 1 to 65535 (got "99999")',
          '  - FOLLOWUP_TEST_DATABASE_URL: expected postgres://user:password@host:port/database',
          '  - FOLLOWUP_TEST_TEMPORAL_ADDRESS: "nohost" is not host:port',
        ].join('\n'),
      ),
    );
  });
});
