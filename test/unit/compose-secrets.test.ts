/** docker-compose.yml ships no secret: the database password must come from the environment. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const compose = readFileSync(join(import.meta.dirname, '..', '..', 'docker-compose.yml'), 'utf8');

describe('docker-compose.yml', () => {
  it('has no default database password: every use of POSTGRES_PASSWORD requires it to be set', () => {
    const uses = compose.match(/\$\{POSTGRES_PASSWORD[^}]*\}/g) ?? [];
    expect(uses.length).toBeGreaterThan(0);
    for (const use of uses) expect(use).toBe('${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}');
  });

  it('has no default for any other secret either', () => {
    expect(compose).not.toMatch(/\$\{(SECRETS_KEY|ADMIN_TOKEN|SENDGRID_API_KEY|TWILIO_AUTH_TOKEN):-[^}]/);
  });
});
