/**
 * /v1/templates: email, SMS, voicemail and task templates in Liquid, versioned. Every save checks
 * the Liquid syntax of each text field (400 naming the field and the line) and reports unknown
 * variables and multi-segment SMS as warnings. An edit writes a new immutable version; automation
 * versions keep the template versions they pinned, so records in flight never see an edit.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { newId } from '#db/ids';
import {
  addTemplateVersion,
  findTemplate,
  insertTemplate,
  listTemplateVersions,
  listTemplates,
  liveAutomationsUsingTemplate,
  lockTemplate,
  softDeleteTemplate,
  templateIdTaken,
  type TemplateVersionView,
  type TemplateView,
} from '#db/templates';
import { analyzeTemplate, CONTENT_SCHEMAS, renderedSizeErrors, TEMPLATE_CHANNELS, type TemplateChannel } from '#domain/templates';
import { conflict, HttpProblem, invalid, notFound } from '../errors';
import { getRecord, recordSnapshot } from '#db/records';
import { messageByKey } from '#db/messages';
import type { SendMessageRequest } from '#domain/commands';
import { testSendWorkflow } from '#workflows/test-send';
import { decodeCursor, decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { iso, ListOf, ListQueryWith, v1Problems } from '../schemas/common';
import {
  CreateTemplateBody,
  CreateTemplateByChannel,
  ListTemplatesQuery,
  Template,
  TemplateName,
  TemplateParams,
  TemplateVersion,
  TestSendBody,
  UpdateTemplateBody,
} from '../schemas/template';
import { MessageView, toMessageView } from '../schemas/messages';

const TAGS = ['templates'];

/** How long a test send answers with its outcome (200) before it answers the message still on its way (202). */
const TEST_SEND_WAIT_MS = 10_000;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const E164 = /^\+[1-9][0-9]{6,14}$/;

export function toTemplate(t: TemplateView): Template {
  const analysis = analyzeTemplate(t.channel, t.content);
  return {
    id: t.id,
    name: t.name,
    channel: t.channel,
    version: t.version,
    content: t.content as Template['content'],
    warnings: analysis.warnings,
    ...(analysis.sms ? { sms: analysis.sms } : {}),
    createdAt: iso(t.createdAt),
    updatedAt: iso(t.updatedAt),
    ...(t.deletedAt ? { deletedAt: iso(t.deletedAt) } : {}),
  };
}

function toVersion(v: TemplateVersionView, current: number) {
  return {
    templateId: v.templateId,
    version: v.version,
    current: v.version === current,
    content: v.content as Template['content'],
    createdAt: iso(v.createdAt),
  };
}

/**
 * Body validation for a channel-dependent shape: the route schema (a union, for the OpenAPI
 * document) would report one error per branch, so a failing body is checked again against the
 * schema of its own channel, and every problem is reported with its pointer.
 */
function bodyErrors(schema: TSchema, body: unknown): Array<{ field: string; message: string }> {
  const seen = new Map<string, string>();
  for (const e of Value.Errors(schema, body) as Array<{ instancePath?: string; keyword?: string; message?: string; params?: Record<string, unknown> }>) {
    const required = e.keyword === 'required' ? (e.params?.requiredProperties as string[] | undefined) : undefined;
    const extra = e.keyword === 'additionalProperties' ? (e.params?.additionalProperties as string[] | undefined) : undefined;
    if (required) for (const p of required) seen.set(`/body${e.instancePath ?? ''}/${p}`, 'is required');
    else if (extra) for (const p of extra) seen.set(`/body${e.instancePath ?? ''}/${p}`, 'unknown field');
    else if (e.keyword === 'boolean')
      continue; // the additionalProperties twin of the error above
    else {
      const field = `/body${e.instancePath ?? ''}`;
      if (!seen.has(field)) seen.set(field, e.message ?? 'is invalid');
    }
  }
  return [...seen].map(([field, message]) => ({ field, message }));
}

/** Rethrows a params/querystring validation error; body problems are the handler's to report. */
function rethrowNonBody(request: FastifyRequest): void {
  const err = request.validationError as (FastifyError & { validationContext?: string }) | undefined;
  if (err && err.validationContext !== 'body') throw err;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Liquid and channel rules, then the rendered size; problems become one 400 with every field. */
function checkContent(channel: TemplateChannel, content: Record<string, string>) {
  const analysis = analyzeTemplate(channel, content);
  const errors = analysis.errors.length > 0 ? analysis.errors : renderedSizeErrors(channel, content);
  if (errors.length > 0) throw invalid(errors.map((e) => ({ field: `/body${e.pointer}`, message: e.message })));
  return analysis;
}

const templates: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/templates',
    {
      attachValidation: true,
      schema: {
        tags: TAGS,
        summary: 'Create a template',
        description:
          'Creates version 1. A Liquid syntax error answers 400 with the field (e.g. /body/content/subject) and the line, and so does a field that can render past its limit (an SMS body 1600 characters, an email subject 998); unknown variables and SMS longer than one segment come back as `warnings`.',
        body: CreateTemplateBody,
        response: { 201: Template, ...v1Problems(400, 409) },
      },
    },
    async (request, reply) => {
      rethrowNonBody(request);
      const body = request.body as unknown;
      if (request.validationError) {
        if (!isObject(body)) throw invalid([{ field: '/body', message: 'must be a JSON object' }]);
        const channel = body.channel;
        if (!TEMPLATE_CHANNELS.includes(channel as TemplateChannel)) {
          throw invalid([{ field: '/body/channel', message: `must be one of ${TEMPLATE_CHANNELS.join(', ')}` }]);
        }
        const errors = bodyErrors(CreateTemplateByChannel[channel as TemplateChannel], body);
        throw invalid(errors.length ? errors : [{ field: '/body', message: 'is invalid' }]);
      }
      const input = request.body;
      checkContent(input.channel, input.content as Record<string, string>);
      const id = input.id ?? newId('tpl');
      const view = await app.db
        .transaction()
        .execute(async (trx) => {
          if (await templateIdTaken(trx, request.workspaceId, id)) {
            throw conflict(`a template with id ${id} already exists in this workspace (ids of deleted templates stay taken)`, '/body/id');
          }
          return insertTemplate(trx, request.workspaceId, { id, name: input.name, channel: input.channel, content: input.content as Record<string, string> });
        })
        .catch((err: unknown) => {
          if ((err as { code?: string }).code === '23505') throw conflict(`a template with id ${id} already exists in this workspace`, '/body/id');
          throw err;
        });
      reply.header('location', `/v1/templates/${encodeURIComponent(id)}`);
      return reply.status(201).send(toTemplate(view));
    },
  );

  app.get(
    '/templates',
    {
      schema: {
        tags: TAGS,
        summary: 'List templates',
        description: 'Newest first; `channel` filters. Deleted templates are not listed.',
        querystring: ListTemplatesQuery,
        response: { 200: ListOf(Template), ...v1Problems(400) },
      },
    },
    async (request) => {
      const limit = pageSize(request.query.limit);
      const after = decodeTimeCursor(request.query.cursor);
      const rows = await listTemplates(app.db, request.workspaceId, { channel: request.query.channel, limit: limit + 1, after });
      return pageOf(rows, limit, toTemplate, (t) => [iso(t.createdAt), t.id]);
    },
  );

  app.get(
    '/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Read a template',
        description: 'The current version and its content.',
        params: TemplateParams,
        response: { 200: Template, ...v1Problems(404) },
      },
    },
    async (request) => {
      const t = await findTemplate(app.db, request.workspaceId, request.params.id);
      if (!t) throw notFound('template', request.params.id);
      return toTemplate(t);
    },
  );

  app.put(
    '/templates/:id',
    {
      attachValidation: true,
      schema: {
        tags: TAGS,
        summary: 'Edit a template (writes a new version)',
        description:
          "Writes the next immutable version and makes it current. Content must keep the template's channel: content of another channel's shape is refused with 400 (the body's schema cannot depend on the stored template). Automation versions saved before keep the template version they pinned; the automation must be saved again (PUT /v1/automations/{id}) for new enrollments to use this one.",
        params: TemplateParams,
        body: UpdateTemplateBody,
        response: { 200: Template, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      rethrowNonBody(request);
      const { workspaceId } = request;
      const { id } = request.params;
      const view = await app.db.transaction().execute(async (trx) => {
        const row = await lockTemplate(trx, workspaceId, id);
        if (!row) throw notFound('template', id);
        // Checked against this template's channel: a body in another channel's shape is an error.
        const schema = Type.Object({ name: Type.Optional(TemplateName), content: CONTENT_SCHEMAS[row.channel] }, { additionalProperties: false });
        const body = request.body as unknown;
        if (!isObject(body)) throw invalid([{ field: '/body', message: 'must be a JSON object' }]);
        const errors = bodyErrors(schema, body);
        if (errors.length) throw invalid(errors);
        const input = request.body;
        const content = input.content as Record<string, string>;
        checkContent(row.channel, content);
        const version = row.current_version + 1;
        const name = input.name ?? row.name;
        await addTemplateVersion(trx, workspaceId, id, { version, name, content });
        return { ...(await findTemplate(trx, workspaceId, id))! };
      });
      return toTemplate(view);
    },
  );

  app.delete(
    '/templates/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete a template',
        description:
          'Marks it deleted: it can no longer be used by a new automation version, and its versions stay readable and pinned (records in flight keep working). A template used by the current version of an active or paused automation answers 409: deactivate the automation or save it without the template first.',
        params: TemplateParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...v1Problems(404, 409) },
      },
    },
    async (request, reply) => {
      const { workspaceId } = request;
      const { id } = request.params;
      await app.db.transaction().execute(async (trx) => {
        const row = await lockTemplate(trx, workspaceId, id);
        if (!row) throw notFound('template', id);
        const users = await liveAutomationsUsingTemplate(trx, workspaceId, id);
        if (users.length > 0) {
          throw conflict(
            `template ${id} is used by ${users.map((a) => `${a.status} automation ${a.id} (${a.name})`).join(', ')}; deactivate it or save it without this template first`,
          );
        }
        await softDeleteTemplate(trx, workspaceId, id);
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/templates/:id/versions',
    {
      schema: {
        tags: TAGS,
        summary: "List a template's versions",
        description: 'Newest first. The versions of a deleted template stay readable: automation versions may still pin them.',
        params: TemplateParams,
        querystring: ListQueryWith({}),
        response: { 200: ListOf(TemplateVersion), ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const { workspaceId } = request;
      const t = await findTemplate(app.db, workspaceId, request.params.id, { includeDeleted: true });
      if (!t) throw notFound('template', request.params.id);
      const limit = pageSize(request.query.limit);
      const before = decodeVersionCursor(request.query.cursor);
      const rows = await listTemplateVersions(app.db, workspaceId, t.id, { limit: limit + 1, before });
      return pageOf(
        rows,
        limit,
        (v) => toVersion(v, t.version),
        (v) => [v.version],
      );
    },
  );
  app.post(
    '/templates/:id/test-send',
    {
      schema: {
        tags: TAGS,
        summary: 'Send one test message of a template',
        description:
          "Sends the template's current version once, through the channel's provider (SendGrid for email, Twilio for sms and voicemail; sandboxed without credentials), to `to`, rendering the fields of `recordId` when given. The message is marked `test` and never counted in statistics. Answers 200 with the message once the send is over, or 202 with it while it still waits (rate limits, provider retries); `requestId` makes a repeated request answer the same message.",
        params: TemplateParams,
        body: TestSendBody,
        response: { 200: MessageView, 202: MessageView, ...v1Problems(400, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const { workspaceId } = request;
      const t = await findTemplate(app.db, workspaceId, request.params.id);
      if (!t) throw notFound('template', request.params.id);
      if (t.channel === 'task') throw conflict(`template ${t.id} is a task template: it has nothing to send`, '/params/id');
      const { to, recordId } = request.body;
      const toError =
        t.channel === 'email'
          ? EMAIL.test(to)
            ? null
            : 'must be an email address'
          : E164.test(to)
            ? null
            : 'must be an E.164 phone number (+ and 7 to 15 digits)';
      if (toError) throw invalid([{ field: '/body/to', message: toError }]);
      const record = recordId ? await getRecord(app.db, workspaceId, recordId) : undefined;
      if (recordId && !record) throw new HttpProblem(404, 'Not Found', { detail: `record ${recordId} does not exist`, field: '/body/recordId' });

      const workflowId = `test-send:${workspaceId}:${request.body.requestId ?? randomUUID()}`;
      const input: SendMessageRequest = {
        workspaceId,
        enrollmentId: null,
        automationId: null,
        recordId: recordId ?? null,
        idempotencyKey: workflowId,
        stepId: null,
        channel: t.channel,
        to: t.channel === 'email' ? { email: to } : { phone: to },
        template: { id: t.id, version: t.version, channel: t.channel, content: t.content },
        templateId: t.id,
        variant: null,
        context: {
          record: record
            ? recordSnapshot(record)
            : { externalId: '', email: null, phone: null, name: null, timezone: null, stage: null, ownerId: null, attributes: {} },
          event: null,
          enrollment: null,
        },
        dueAt: new Date().toISOString(),
        test: true,
      };
      const handle = await app.temporal.workflow
        .start(testSendWorkflow, { taskQueue: app.config.TEMPORAL_TASK_QUEUE, workflowId, args: [input] })
        .catch((err: unknown) => {
          // The same requestId again: answer the run it started.
          if (err instanceof WorkflowExecutionAlreadyStartedError) return app.temporal.workflow.getHandle(workflowId);
          throw err;
        });
      let timer: NodeJS.Timeout | undefined;
      // Past the wait the result's long poll is cancelled: left running, it outlives the request.
      const abandon = new AbortController();
      const finished = await Promise.race([
        app.temporal
          .withAbortSignal(abandon.signal, () => handle.result())
          .then(
            () => true,
            (err: unknown) => {
              if (abandon.signal.aborted) return false;
              throw err;
            },
          ),
        new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), TEST_SEND_WAIT_MS))),
      ]).finally(() => {
        clearTimeout(timer);
        abandon.abort();
      });
      const row = await messageByKey(app.db, workflowId);
      if (!row) {
        throw new HttpProblem(503, 'Service Unavailable', {
          detail: `no worker took the test send within ${TEST_SEND_WAIT_MS / 1000} s; repeat the request with requestId to find it`,
        });
      }
      return reply.status(finished ? 200 : 202).send(toMessageView(row));
    },
  );
};

export function decodeVersionCursor(cursor: string | undefined): number | undefined {
  const values = decodeCursor(cursor, 1);
  if (!values) return undefined;
  const [v] = values;
  // A version is a PostgreSQL integer: a larger number would fail there, not here.
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2_147_483_647) {
    throw new HttpProblem(400, 'Bad Request', { detail: '/querystring/cursor: is not a cursor returned by this list', field: '/querystring/cursor' });
  }
  return v;
}

export default templates;
