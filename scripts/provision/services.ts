/** How the cluster starts an API or a worker process. */
export const SERVICE_ENTRIES = { api: 'services/api/server.ts', worker: 'services/worker/main.ts' } as const;

export function serviceCommand(service: keyof typeof SERVICE_ENTRIES): string[] {
  return [process.execPath, '--import', 'tsx', SERVICE_ENTRIES[service]];
}
