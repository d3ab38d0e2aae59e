/**
 * A workspace's own provider credentials (PUT /v1/providers/...): the one place that seals them for
 * storage and opens them again. Sealed with AES-256-GCM bound to the workspace (platform/secrets.ts),
 * so a row copied to another workspace does not open.
 */
import type { Db } from '#db/connection';
import type { Provider } from '#domain/delivery';
import { providerCredentials, putProviderCredentials } from '#db/provider-credentials';
import { credentialsKey, decryptSecret, encryptSecret } from '#platform/secrets';

export interface SendgridCredentials {
  apiKey: string;
  /** The account's Signed Event Webhook verification key, when the workspace set one. */
  webhookPublicKey?: string;
}

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
}

interface CredentialsOf {
  sendgrid: SendgridCredentials;
  twilio: TwilioCredentials;
}

export async function storeCredentials<P extends Provider>(
  db: Db,
  secretsKey: string,
  workspaceId: string,
  provider: P,
  credentials: CredentialsOf[P],
): Promise<void> {
  await putProviderCredentials(db, workspaceId, provider, encryptSecret(credentialsKey(secretsKey), JSON.stringify(credentials), workspaceId));
}

/** The workspace's own credentials for `provider`, opened; undefined when it brought none. */
export async function workspaceCredentials<P extends Provider>(
  db: Db,
  secretsKey: string,
  workspaceId: string,
  provider: P,
): Promise<CredentialsOf[P] | undefined> {
  const row = (await providerCredentials(db, workspaceId)).find((r) => r.provider === provider);
  return row ? (JSON.parse(decryptSecret(credentialsKey(secretsKey), row.sealed, workspaceId)) as CredentialsOf[P]) : undefined;
}
