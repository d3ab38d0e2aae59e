import { describe, expect, it } from 'vitest';
import { credentialsKey, decryptSecret, encryptSecret } from '#platform/secrets';

describe('sealed provider credentials', () => {
  it('open with the same key and workspace, and nowhere else', () => {
    const key = credentialsKey('k'.repeat(40));
    const sealed = encryptSecret(key, 'SG.secret', 'ws_1');
    expect(sealed).not.toContain('SG.secret');
    expect(encryptSecret(key, 'SG.secret', 'ws_1')).not.toBe(sealed);
    expect(decryptSecret(key, sealed, 'ws_1')).toBe('SG.secret');
    expect(() => decryptSecret(key, sealed, 'ws_2')).toThrow();
    expect(() => decryptSecret(credentialsKey('x'.repeat(40)), sealed, 'ws_1')).toThrow();
  });
});
