/**
 * The one place where failures become HTTP answers: application/problem+json (RFC 9457) with a
 * status, a title and, where one field is at fault, its JSON pointer. 5xx answers never carry
 * internals; those go to the log.
 */
import { Type, type Static } from 'typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { bagProblem, type BagLimits } from '#domain/json-limits';

export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.Optional(Type.String()),
    field: Type.Optional(Type.String({ description: 'JSON pointer of the offending input, e.g. /body/steps/2/next' })),
    errors: Type.Optional(Type.Array(Type.Object({ field: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', description: 'application/problem+json' },
);
export type Problem = Static<typeof Problem>;

export class HttpProblem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly extra: { detail?: string; field?: string; errors?: Array<{ field: string; message: string }>; headers?: Record<string, string> } = {},
  ) {
    super(extra.detail ? `${title}: ${extra.detail}` : title);
    this.name = 'HttpProblem';
  }
}

export const notFound = (what: string, id: string) => new HttpProblem(404, 'Not Found', { detail: `${what} ${id} does not exist` });
export const conflict = (detail: string, field?: string) => new HttpProblem(409, 'Conflict', { detail, ...(field ? { field } : {}) });
export const invalid = (errors: Array<{ field: string; message: string }>) =>
  new HttpProblem(400, 'Bad Request', {
    detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
    ...(errors[0] ? { field: errors[0].field } : {}),
    errors,
  });

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
};

/** Refuses a free-form bag over its limits (domain/json-limits.ts): 413 for its size, else 400, naming the place. */
export function checkBag(bag: Record<string, unknown> | undefined, pointer: string, limits: BagLimits): void {
  const problem = bag && bagProblem(bag, pointer, limits);
  if (problem) throw new HttpProblem(problem.status, TITLES[problem.status]!, { detail: `${problem.pointer}: ${problem.message}`, field: problem.pointer });
}

interface ValidationIssue {
  instancePath?: string;
  schemaPath?: string;
  message?: string;
  keyword?: string;
  params?: Record<string, unknown>;
}

function validationErrors(err: FastifyError): Array<{ field: string; message: string }> {
  const context = (err as FastifyError & { validationContext?: string }).validationContext ?? 'body';
  const seen = new Map<string, string>();
  const add = (field: string, message: string) => {
    if (!seen.has(field)) seen.set(field, message);
  };
  for (const issue of (err.validation ?? []) as ValidationIssue[]) {
    const base = `/${context}${issue.instancePath ?? ''}`;
    if (issue.keyword === 'required' && Array.isArray(issue.params?.requiredProperties)) {
      for (const name of issue.params.requiredProperties as string[]) add(`${base}/${name}`, 'is required');
    } else if (issue.keyword === 'additionalProperties' && Array.isArray(issue.params?.additionalProperties)) {
      for (const name of issue.params.additionalProperties as string[]) add(`${base}/${name}`, 'unknown field');
    } else if (issue.keyword === 'boolean' && issue.schemaPath?.endsWith('/additionalProperties')) {
      // TypeBox reports `additionalProperties: false` once more at the property itself.
      add(base, 'unknown field');
    } else {
      // Unions report one error per branch; the first message per place is the useful one.
      add(base, issue.message ?? 'is invalid');
    }
  }
  return [...seen].map(([field, message]) => ({ field, message }));
}

/** Fastify's own 4xx codes that concern the whole body or a header. */
const FIELD_OF_CODE: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: '/headers/content-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: '/headers/content-length',
  FST_ERR_CTP_BODY_TOO_LARGE: '/body',
  FST_ERR_CTP_EMPTY_JSON_BODY: '/body',
  FST_ERR_CTP_INVALID_JSON_BODY: '/body',
};

const RETRY_AFTER_SECONDS = 5;
/** Connection-level failures: node's socket errors, SQLSTATE class 08 and the shutdown codes 57P01-57P03. */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P02', '57P03']);

/**
 * pg's own messages: a connection lost mid-query; a query on a client whose connection already
 * failed or was closed (kysely's rollback after the failed query throws this one, not the first);
 * the pool's connection timeout.
 */
const UNAVAILABLE_MESSAGES =
  /^Connection terminated|^Client (has encountered a connection error|was closed) and is not queryable|timeout exceeded when trying to connect/;

/** True when `err` (or its cause) says PostgreSQL could not be reached, not that a query was wrong. */
function databaseUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || code.startsWith('08'))) return true;
    if (UNAVAILABLE_MESSAGES.test(e.message)) return true;
  }
  return false;
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status = err instanceof HttpProblem ? err.status : (err.statusCode ?? 500);
    let body: Problem;
    if (err instanceof HttpProblem) {
      body = { type: 'about:blank', title: err.title, status, ...omitHeaders(err.extra) };
      for (const [k, v] of Object.entries(err.extra.headers ?? {})) reply.header(k, v);
    } else if (err.validation) {
      status = 400;
      const errors = validationErrors(err);
      body = {
        type: 'about:blank',
        title: 'Bad Request',
        status,
        detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
        field: errors[0]?.field,
        errors,
      };
    } else if (databaseUnavailable(err)) {
      // PostgreSQL restarting or unreachable: nothing was stored, and the client should retry.
      request.log.warn({ err }, 'database unavailable');
      status = 503;
      body = { type: 'about:blank', title: 'Service Unavailable', status, detail: 'The database is unavailable; retry after the time in Retry-After.' };
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    } else if (status >= 500) {
      request.log.error({ err }, 'request failed');
      body = { type: 'about:blank', title: 'Internal Server Error', status: 500 };
      status = 500;
    } else {
      body = {
        type: 'about:blank',
        title: TITLES[status] ?? 'Error',
        status,
        detail: err.message,
        ...(err.code && FIELD_OF_CODE[err.code] ? { field: FIELD_OF_CODE[err.code] } : {}),
      };
    }
    reply.status(status).type('application/problem+json').send(body);
  });
  // Every route's path as a pattern with its methods: a known path asked with another method is a 405 with Allow.
  const routes: Array<{ pattern: RegExp; methods: Set<string> }> = [];
  app.addHook('onRoute', (route) => {
    const pattern = new RegExp(
      `^${route.url
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/:[^/]+/g, '[^/]+')
        .replace(/\*/g, '.*')}/?$`,
    );
    let entry = routes.find((r) => r.pattern.source === pattern.source);
    if (!entry) routes.push((entry = { pattern, methods: new Set() }));
    for (const method of [route.method].flat()) entry.methods.add(method);
    if (entry.methods.has('GET')) entry.methods.add('HEAD');
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = [...new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => [...r.methods]))].sort();
    if (allowed.length > 0) {
      reply
        .status(405)
        .header('allow', allowed.join(', '))
        .type('application/problem+json')
        .send({ type: 'about:blank', title: 'Method Not Allowed', status: 405, detail: `${path} answers ${allowed.join(', ')}, not ${request.method}` });
      return;
    }
    reply
      .status(404)
      .type('application/problem+json')
      .send({ type: 'about:blank', title: 'Not Found', status: 404, detail: `no route ${request.method} ${path}` });
  });
}

/**
 * The router's limit on one path parameter as sent (percent-encoded): well above every id's
 * maxLength even fully encoded, so that the route's schema, not the router, names the field.
 */
export const MAX_PARAM_LENGTH = 1000;

/**
 * What Fastify answers itself before any route runs, as problems: a path parameter longer than
 * MAX_PARAM_LENGTH (Fastify's own answer is a bare 414 JSON) and a path that is not valid URL
 * encoding, both 400 naming the path.
 */
export function frameworkErrors(err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  // These requests have no route, so the app's error handler does not see them: answered here.
  const detail =
    err.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`
      : err.code === 'FST_ERR_BAD_URL'
        ? 'the path is not valid URL encoding'
        : undefined;
  const body: Problem = detail
    ? { type: 'about:blank', title: 'Bad Request', status: 400, detail, field: '/params' }
    : { type: 'about:blank', title: TITLES[err.statusCode ?? 400] ?? 'Bad Request', status: err.statusCode ?? 400, detail: err.message };
  void reply.status(body.status).type('application/problem+json').send(body);
}

function omitHeaders<T extends { headers?: unknown }>(extra: T): Omit<T, 'headers'> {
  const { headers: _headers, ...rest } = extra;
  return rest;
}
