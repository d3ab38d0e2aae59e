/** The typed API client used by the tests: openapi-fetch over the generated schema.d.ts. */
import createClient from 'openapi-fetch';
import type { paths } from './schema';

export type ApiClient = ReturnType<typeof createClient<paths>>;

export function createApiClient(baseUrl: string, apiKey?: string): ApiClient {
  return createClient<paths>({ baseUrl, headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
}
