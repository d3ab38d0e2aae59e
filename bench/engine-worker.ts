/**
 * The worker as bench/engine.ts runs it: the same startEngine() as services/worker/main.ts, in a
 * child process of its own (so its memory is measured alone), answering over IPC:
 *   'mem'  -> { rss, heapUsed, heapTotal, external, maxCachedWorkflows } after a full GC
 *   'stop' -> graceful shutdown, then exit.
 * Run with `node --expose-gc --import tsx bench/engine-worker.ts`.
 */
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '#platform/config';
import { createLogger } from '#platform/logger';
import { startEngine } from '#services/worker/worker';

const config = loadConfig();
const logger = createLogger({ level: config.LOG_LEVEL, name: 'bench-worker' });
const temporal = new Client({ connection: await Connection.connect({ address: config.TEMPORAL_ADDRESS }), namespace: config.TEMPORAL_NAMESPACE });
const engine = await startEngine({ config, logger, temporal });

function memory() {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, maxCachedWorkflows: engine.worker.options.maxCachedWorkflows };
}

process.on('message', (msg: unknown) => void onMessage(msg));

async function onMessage(msg: unknown): Promise<void> {
  if (msg === 'mem') process.send!({ type: 'mem', ...memory() });
  if (msg === 'stop') {
    await engine.shutdown();
    await temporal.connection.close();
    process.exit(0);
  }
}
process.send!({ type: 'ready' });
