import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';

export class TemporalUnreachableError extends Error {
  constructor(address: string, cause: unknown) {
    super(`Temporal is not reachable at TEMPORAL_ADDRESS=${address}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TemporalUnreachableError';
  }
}

/** Connects and proves the server answers, so a wrong address fails at start-up, not at the first request. */
export async function connectTemporal(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>, timeoutMs = 10_000): Promise<Client> {
  try {
    const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: timeoutMs });
    await connection.workflowService.getSystemInfo({});
    return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE });
  } catch (err) {
    throw new TemporalUnreachableError(config.TEMPORAL_ADDRESS, err);
  }
}

export async function temporalReady(client: Client, timeoutMs = 2_000): Promise<boolean> {
  try {
    await client.connection.withDeadline(Date.now() + timeoutMs, () => client.connection.workflowService.getSystemInfo({}));
    return true;
  } catch {
    return false;
  }
}
