import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import records from './records';
import templates from './templates';
import automations from './automations';
import events from './events';
import apiKeys from './api-keys';
import users from './users';
import webhookEndpoints from './webhook-endpoints';
import messages from './messages';
import tasks from './tasks';
import enrollments from './enrollments';
import preview from './preview';
import suppressions from './suppressions';
import settings from './settings';
import senders from './senders';
import providers from './providers';
import statistics from './statistics';
import inbound from './inbound';

/**
 * Every /v1 route: authenticated by API key (which decides the workspace) and rate limited per key.
 * Resource plugins register here, one file each.
 */
const v1: FastifyPluginAsyncTypebox = async (app) => {
  app.addHook('onRequest', app.authenticate);
  // JSON only: any other body (text/plain included) answers 415.
  app.removeContentTypeParser('text/plain');
  // Per key (see the keyGenerator in app.ts). Added as a hook: an onRoute hook here runs after
  // the rate-limit plugin's own, so setting route.config.rateLimit from it had no effect.
  app.addHook('onRequest', app.rateLimit());
  await app.register(records);
  await app.register(templates);
  await app.register(automations);
  await app.register(events);
  await app.register(apiKeys);
  await app.register(users);
  await app.register(webhookEndpoints);
  await app.register(messages);
  await app.register(tasks);
  await app.register(enrollments);
  await app.register(preview);
  await app.register(suppressions);
  await app.register(settings);
  await app.register(senders);
  await app.register(providers);
  await app.register(statistics);
  await app.register(inbound);
};

export default v1;
