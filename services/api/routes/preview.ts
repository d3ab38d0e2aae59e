/**
 * POST /v1/automations/{id}/preview: the path a record would take, with due times, computed by
 * domain/preview (the workflow's own interpreter on a simulated clock). Nothing is sent or written.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { IANAZone } from 'luxon';
import { findAutomation, findAutomationVersion } from '#db/automations';
import { getWorkspaceSettings } from '#db/settings';
import { pinnedTemplates } from '#db/templates';
import { recordEventsOfTypes } from '#db/events';
import { countLeavesOf } from '#domain/event-counts';
import { definitionConditions } from '#domain/signal-interest';
import type { Db } from '#db/connection';
import { getUser } from '#db/users';
import { getWorkspace } from '#db/workspaces';
import type { PreviewStep } from '#domain/preview';
import { renderContent, type ScopeParts } from '#domain/templates';
import { TIMING_RULES } from '#domain/timing';
import { PREVIEW_BUDGET, PreviewBudgetExceeded, simulateEnrollment } from '#domain/preview';
import { variantOf } from '#engine/enroller';
import { EVENT_PROPERTY_LIMITS, RECORD_ATTRIBUTE_LIMITS } from '#domain/json-limits';
import { checkBag, HttpProblem, invalid, notFound } from '../errors';
import { IdParam, Nullable, Timestamp, v1Problems } from '../schemas/common';

const PreviewRecord = Type.Object(
  {
    externalId: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description: 'Decides the A/B letter; a stored record\'s events count for eventCount conditions besides `events`. Default "preview"',
      }),
    ),
    email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))),
    phone: Type.Optional(Nullable(Type.String({ maxLength: 32 }))),
    name: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    timezone: Type.Optional(
      Nullable(
        Type.String({
          minLength: 1,
          maxLength: 64,
          description: 'IANA zone: windows and quiet hours use it; one the time zone database does not know is refused with 400',
        }),
      ),
    ),
    stage: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    ownerId: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    attributes: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

const PreviewBody = Type.Object(
  {
    record: PreviewRecord,
    startAt: Type.String({ format: 'date-time', description: 'When the record enters' }),
    events: Type.Optional(
      Type.Array(
        Type.Object(
          {
            type: Type.String({ minLength: 1, maxLength: 200 }),
            at: Type.String({ format: 'date-time' }),
            properties: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          },
          { additionalProperties: false },
        ),
        { maxItems: 200, description: 'Events that arrive meanwhile (replies, ratings, ...)' },
      ),
    ),
    version: Type.Optional(Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'Automation version; default the current one' })),
  },
  {
    additionalProperties: false,
    examples: [
      {
        record: { externalId: 'lead-1042', timezone: 'Europe/Bucharest', attributes: { service: 'cleaning' } },
        startAt: '2026-11-23T10:00:00Z',
        events: [{ type: 'rating.received', at: '2026-11-23T15:00:00Z', properties: { rating: 5 } }],
      },
    ],
  },
);

const PreviewResult = Type.Object(
  {
    version: Type.Integer(),
    steps: Type.Array(
      Type.Object(
        {
          stepId: Type.String(),
          type: Type.String(),
          dueAt: Timestamp(),
          status: Type.Union([Type.Literal('done'), Type.Literal('skipped'), Type.Literal('failed')], {
            description: 'failed: a send whose template this version does not pin',
          }),
          detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
          subject: Type.Optional(Nullable(Type.String({ description: 'A send: the subject as it would be rendered (email)' }))),
          body: Type.Optional(
            Nullable(Type.String({ description: 'A send: the body as it would be rendered (email text, else html; SMS body; voicemail text or audio URL)' })),
          ),
          html: Type.Optional(Nullable(Type.String({ description: 'An email send: the html body as it would be rendered' }))),
          renderError: Type.Optional(Type.String({ description: 'A send whose template would not render: why (the send would fail)' })),
        },
        { additionalProperties: false },
      ),
    ),
    outcome: Type.Union([Type.Literal('completed'), Type.Literal('exited'), Type.Literal('failed'), Type.Literal('truncated')], {
      description:
        'completed; exited (an exit rule, goal or exit step; see exitReason); failed (the definition cannot run; see exitReason); ' +
        'truncated (the walk waits for an event that the simulated events do not bring). ' +
        `A walk past ${PREVIEW_BUDGET.steps} steps or ${PREVIEW_BUDGET.millis} ms of work is answered 422`,
    }),
    exitReason: Nullable(Type.String()),
    converted: Type.Boolean(),
    endsAt: Timestamp(),
  },
  { additionalProperties: false },
);

/** Stored events of each counted type a preview loads (the latest): counts above it are not told apart. */
const STORED_EVENTS_PER_TYPE = 1000;

const preview: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/automations/:id/preview',
    {
      schema: {
        tags: ['automations'],
        summary: 'Dry run: the path a record would take',
        description:
          'Simulates an enrollment with the same schedule and condition code the workflows run: each step with its due time, ' +
          'with `events` arriving meanwhile (replies, ratings), and the subject and body of each send rendered as the send would render them ' +
          '(record, event, owner, workspace, enrollment; no sender or unsubscribe link). Sends, tasks and webhooks are assumed to succeed. Nothing is sent or written.',
        params: IdParam,
        body: PreviewBody,
        response: { 200: PreviewResult, ...v1Problems(400, 404, 413, 422) },
      },
    },
    async (request) => {
      const ws = request.workspaceId;
      const body = request.body;
      checkBag(body.record.attributes, '/body/record/attributes', RECORD_ATTRIBUTE_LIMITS);
      (body.events ?? []).forEach((e, i) => checkBag(e.properties, `/body/events/${i}/properties`, EVENT_PROPERTY_LIMITS));
      const automation = await findAutomation(app.db, ws, request.params.id);
      if (!automation) throw notFound('automation', request.params.id);
      const chosen =
        body.version === undefined || body.version === automation.currentVersion
          ? { version: automation.currentVersion, definition: automation.definition, templateVersions: automation.templateVersions }
          : await findAutomationVersion(app.db, ws, automation.id, body.version);
      if (!chosen) throw notFound('version', `${body.version} of automation ${automation.id}`);
      const { definition, version } = chosen;
      if (body.record.timezone && !IANAZone.isValidZone(body.record.timezone)) {
        throw invalid([{ field: '/body/record/timezone', message: `"${body.record.timezone}" is not an IANA time zone` }]);
      }
      const settings = await getWorkspaceSettings(app.db, ws);
      const r = body.record;
      const externalId = r.externalId ?? 'preview';
      // eventCount leaves find the stored record's events as well as the simulated ones (as a running enrollment does).
      const counted = [...new Set(countLeavesOf(definitionConditions(definition)).map((l) => l.event))];
      const storedEvents = r.externalId && counted.length > 0 ? await recordEventsOfTypes(app.db, ws, r.externalId, counted, STORED_EVENTS_PER_TYPE) : [];
      const result = previewWithin({
        definition,
        templates: await pinnedTemplates(app.db, ws, chosen.templateVersions),
        record: {
          externalId,
          email: r.email ?? null,
          phone: r.phone ?? null,
          name: r.name ?? null,
          timezone: r.timezone ?? null,
          stage: r.stage ?? null,
          ownerId: r.ownerId ?? null,
          attributes: r.attributes ?? {},
        },
        startAt: new Date(body.startAt),
        events: (body.events ?? []).map((e) => ({ type: e.type, at: new Date(e.at), properties: e.properties ?? {} })),
        storedEvents,
        workspaceTimezone: settings?.timezone ?? 'UTC',
        timing: { timingRules: TIMING_RULES, ...(settings ? { workspaceQuietHours: settings.quietHours } : {}) },
        variant: variantOf(definition, automation.id, externalId),
      });
      const scope = await previewScope(app.db, ws, r.ownerId ?? null);
      return { version, ...result, steps: await Promise.all(result.steps.map((step) => rendered(step, scope))) };
    },
  );
};

/** The record's owner and the workspace, as a send would read them (no sender, no unsubscribe link: nothing is sent). */
async function previewScope(db: Db, workspaceId: string, ownerId: string | null): Promise<Omit<ScopeParts, 'record'>> {
  const [owner, workspace] = await Promise.all([ownerId ? getUser(db, workspaceId, ownerId) : undefined, getWorkspace(db, workspaceId)]);
  return { owner: owner ?? null, workspace: workspace ?? null };
}

/** A step as answered: a send's content rendered with the engine and scope of a real send. */
async function rendered(step: PreviewStep, scope: Omit<ScopeParts, 'record'>) {
  const { send, ...rest } = step;
  if (!send?.template) return rest;
  try {
    const out = await renderContent(send.template.channel, send.template.content, { ...scope, ...send.context });
    const text = out.text ?? out.body ?? null;
    const body = send.channel === 'voicemail' ? (out.text ?? out.audioUrl ?? null) : (text ?? out.html ?? null);
    return { ...rest, subject: out.subject ?? null, body, ...(send.channel === 'email' ? { html: out.html ?? null } : {}) };
  } catch (err) {
    return { ...rest, renderError: `template ${send.template.id} does not render: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The preview within its budget; past it, 422 with the reason. */
function previewWithin(input: Omit<Parameters<typeof simulateEnrollment>[0], 'budget'>): ReturnType<typeof simulateEnrollment> {
  try {
    return simulateEnrollment({ ...input, budget: { ...PREVIEW_BUDGET, now: () => performance.now() } });
  } catch (err) {
    if (err instanceof PreviewBudgetExceeded) throw new HttpProblem(422, 'Unprocessable Content', { detail: err.message });
    throw err;
  }
}

export default preview;
