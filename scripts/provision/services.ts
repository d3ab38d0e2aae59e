/**
 * The service entry points and how to run them: TypeScript through tsx (development, tests), or
 * the JavaScript `npm run build` writes to dist/ (production: the Dockerfile, docker-compose,
 * `npm run start:cluster`).
 */
export const ENTRIES = { api: 'services/api/server.ts', worker: 'services/worker/main.ts', migrate: 'scripts/provision/migrate.ts' } as const;

export function serviceCommand(service: keyof typeof ENTRIES, compiled: boolean): string[] {
  return compiled ? [process.execPath, `dist/${service}.js`] : [process.execPath, '--import', 'tsx', ENTRIES[service]];
}
