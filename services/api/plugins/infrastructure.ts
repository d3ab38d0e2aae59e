import fp from 'fastify-plugin';
import type { Client } from '@temporalio/client';
import type { Db } from '#db/connection';
import type { Config } from '#platform/config';

declare module 'fastify' {
  interface FastifyInstance {
    db: Db;
    temporal: Client;
    config: Config;
  }
}

export interface Infrastructure {
  db: Db;
  temporal: Client;
  config: Config;
}

/** The process owns these connections (server.ts, tests); the app only borrows them. */
export default fp<Infrastructure>(
  async (app, deps) => {
    app.decorate('db', deps.db);
    app.decorate('temporal', deps.temporal);
    app.decorate('config', deps.config);
  },
  { name: 'infrastructure' },
);
