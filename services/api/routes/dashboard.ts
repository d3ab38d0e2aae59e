/**
 * GET /dashboard (docs/operations.md §5): the operators' page. Loading it needs no API key: the page asks for
 * one, keeps it in the tab's sessionStorage and reads the public /v1 JSON API with it, so it shows
 * exactly what a backend calling the API would see and needs no endpoint of its own.
 *
 * Three static files (services/api/dashboard/), read once at start and served from memory. The
 * only value written into the page is where the Temporal Web UI lists workflows (TEMPORAL_UI_URL
 * and TEMPORAL_NAMESPACE), so each enrollment links to its workflow there.
 */
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { escapeHtml } from '../html';

// `npm run build` copies the files beside dist/api.js and defines this (scripts/build.ts); tsx runs the sources.
declare const FOLLOWUP_DASHBOARD_DIR: string | undefined;
const ASSETS = new URL(typeof FOLLOWUP_DASHBOARD_DIR === 'string' ? FOLLOWUP_DASHBOARD_DIR : '../dashboard/', import.meta.url);

/**
 * The page runs only its own script and style and talks only to this API: a record name or a
 * rendered template that slipped past the page's escaping still could not run or load anything.
 * `form-action 'none'`: the sign-in form is handled by the script; were it ever submitted natively,
 * the key must not leave in a URL.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function send(reply: FastifyReply, type: string, body: string): FastifyReply {
  return (
    reply
      .type(type)
      .header('content-security-policy', CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      // Small files that change with a deploy: always revalidated, never stale after an upgrade.
      .header('cache-control', 'no-cache')
      .send(body)
  );
}

const dashboard: FastifyPluginAsync = async (app) => {
  const read = (file: string) => readFile(new URL(file, ASSETS), 'utf8');
  const [html, script, style] = await Promise.all([read('index.html'), read('app.js'), read('style.css')]);
  const workflows = `${app.config.TEMPORAL_UI_URL.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(app.config.TEMPORAL_NAMESPACE)}/workflows`;
  const page = html.replace('%WORKFLOWS_URL%', escapeHtml(workflows));

  // Not API operations: kept out of the OpenAPI document, like the unsubscribe page.
  app.get('/', { schema: { hide: true } }, async (_request, reply) => send(reply, 'text/html; charset=utf-8', page));
  app.get('/app.js', { schema: { hide: true } }, async (_request, reply) => send(reply, 'text/javascript; charset=utf-8', script));
  app.get('/style.css', { schema: { hide: true } }, async (_request, reply) => send(reply, 'text/css; charset=utf-8', style));
};

export default dashboard;
