/** How a service process fails to start: one line naming the problem, a stack only for the unexpected. */
import { ConfigError } from './config';
import { TemporalUnreachableError } from './temporal';

/** A start-up problem the operator can fix from its message alone. */
export class StartupError extends Error {}

export function exitOnStartupFailure(service: string, err: unknown): never {
  const expected = err instanceof ConfigError || err instanceof TemporalUnreachableError || err instanceof StartupError;
  const detail = expected ? (err as Error).message : `failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
  process.stderr.write(`${service}: ${detail}\n`);
  process.exit(1);
}
