/**
 * Stored provider credentials are sealed with AES-256-GCM under a key derived from SECRETS_KEY
 * for this purpose only (HKDF-SHA256), so no other value signed from SECRETS_KEY shares its key.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

export function credentialsKey(secretsKey: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secretsKey, 'followup', 'provider-credentials/v1', 32));
}

/** `v1.<iv>.<tag>.<ciphertext>` (base64url), authenticated with `aad` (the workspace id: a row copied to another workspace does not open). */
export function encryptSecret(key: Buffer, plaintext: string, aad: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad));
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), data.toString('base64url')].join('.');
}

export function decryptSecret(key: Buffer, sealed: string, aad: string): string {
  const [version, iv, tag, data] = sealed.split('.');
  if (version !== 'v1' || !iv || !tag || data === undefined) throw new Error('not a sealed secret');
  const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(aad));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(data, 'base64url')), decipher.final()]).toString('utf8');
}
