/**
 * Enrollments: enroll by hand, list an automation's enrollments, read one with its timeline,
 * messages and tasks, unenroll, and a record's automations with their progress.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { EnrollmentRow } from '#db/schema';
import { enrollmentsOfRecord, getEnrollment, listEnrollments, messagesOfEnrollment, stepCounts, stepsOfEnrollment, tasksOfEnrollment } from '#db/enrollments';
import { findAutomation } from '#db/automations';
import { getRecord } from '#db/records';
import { ENROLLMENT_STATUSES } from '#domain/enrollment';
import { exitSignal } from '#workflows/signals';
import { Enroller } from '#engine/enroller';
import { conflict, HttpProblem, notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { IdParam, iso, ListOf, ListQueryWith, Nullable, NullableTimestamp, Timestamp, v1Problems } from '../schemas/common';
import { MessageView, toMessageView } from '../schemas/messages';
import { TaskView, toTaskView } from '../schemas/tasks';

const EnrollmentStatus = Type.Enum(ENROLLMENT_STATUSES, { description: ENROLLMENT_STATUSES.join(', ') });

export const EnrollmentView = Type.Object(
  {
    id: Type.String(),
    automationId: Type.String(),
    version: Type.Integer({ description: 'The automation version this enrollment runs (fixed at entry)' }),
    recordId: Type.String({ description: "The record's external id" }),
    seq: Type.Integer({ description: "1 for the record's first entry into this automation, 2 for the next, ..." }),
    workflowId: Type.String({ description: 'Temporal workflow id (find it in the Temporal Web UI)' }),
    status: EnrollmentStatus,
    currentStep: Nullable(Type.String()),
    exitReason: Nullable(Type.String()),
    converted: Type.Boolean({ description: 'Exited on a goal' }),
    variant: Nullable(Type.String({ description: 'A/B letter' })),
    triggerEventId: Nullable(Type.String({ description: 'The event (or record change) that enrolled the record; null for manual entries' })),
    startedAt: Timestamp(),
    endedAt: NullableTimestamp(),
    updatedAt: Timestamp(),
  },
  { additionalProperties: false },
);
export type EnrollmentView = Static<typeof EnrollmentView>;

const TimelineEntryView = Type.Object(
  {
    stepId: Type.String(),
    visit: Type.Integer({ description: '1 the first time the step ran, 2 the second (loops)' }),
    type: Type.String(),
    status: Type.String({ description: 'done, skipped, failed' }),
    dueAt: NullableTimestamp(),
    at: Timestamp({ description: 'When the step ran' }),
    detail: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);

const EnrollmentDetail = Type.Object(
  {
    ...EnrollmentView.properties,
    timeline: Type.Array(TimelineEntryView),
    messages: Type.Array(MessageView),
    tasks: Type.Array(TaskView),
  },
  { additionalProperties: false },
);

const RecordEnrollmentView = Type.Object(
  {
    ...EnrollmentView.properties,
    automationName: Type.String(),
    automationStatus: Type.String(),
    stepsRun: Type.Integer({ description: 'Steps run so far (done, skipped or failed)' }),
    stepCount: Type.Integer({ description: "Steps in the enrollment's automation version" }),
  },
  { additionalProperties: false },
);

const EnrollBody = Type.Object(
  { recordId: Type.String({ minLength: 1, maxLength: 200, description: "The record's external id" }) },
  { additionalProperties: false, examples: [{ recordId: 'lead-1042' }] },
);

const EnrollmentListQuery = ListQueryWith({
  status: Type.Optional(EnrollmentStatus),
  step: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Current step id' })),
});

const RecordParams = Type.Object({ externalId: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });

export function toEnrollmentView(row: EnrollmentRow): EnrollmentView {
  return {
    id: row.id,
    automationId: row.automation_id,
    version: row.version,
    recordId: row.record_id,
    seq: row.seq,
    workflowId: row.workflow_id,
    status: row.status,
    currentStep: row.current_step,
    exitReason: row.exit_reason,
    converted: row.converted,
    variant: row.variant,
    triggerEventId: row.trigger_event_id,
    startedAt: iso(row.started_at),
    endedAt: iso(row.ended_at),
    updatedAt: iso(row.updated_at),
  };
}

const enrollments: FastifyPluginAsyncTypebox = async (app) => {
  const enroller = new Enroller({ db: app.db, temporal: app.temporal, taskQueue: app.config.TEMPORAL_TASK_QUEUE });

  app.post(
    '/automations/:id/enrollments',
    {
      schema: {
        tags: ['enrollments'],
        summary: 'Enroll a record by hand',
        description:
          'Starts the record on the current version of the automation (which must be active). ' +
          'Follows `settings.reentry`: `once` refuses a record that was ever enrolled, `after_exit` (default) one that is in it now, ' +
          '`always` starts another run. A refusal is 409.',
        params: IdParam,
        body: EnrollBody,
        response: { 201: EnrollmentView, ...v1Problems(400, 404, 409, 422) },
      },
    },
    async (request, reply) => {
      const ws = request.workspaceId;
      const automation = await findAutomation(app.db, ws, request.params.id);
      if (!automation) throw notFound('automation', request.params.id);
      if (automation.status !== 'active') throw conflict(`automation ${automation.id} is ${automation.status}; only an active automation takes enrollments`);
      const record = await getRecord(app.db, ws, request.body.recordId);
      if (!record) {
        throw new HttpProblem(422, 'Unprocessable Content', {
          detail: `/body/recordId: no record ${request.body.recordId} in this workspace`,
          field: '/body/recordId',
        });
      }
      const version = await enroller.versionContext(ws, automation.id, automation.currentVersion);
      if (!version) throw new Error(`automation ${automation.id} has no version ${automation.currentVersion}`);
      const outcome = await enroller.enroll({ workspaceId: ws, version, record, trigger: null, triggerKey: null });
      if (outcome.kind === 'refused') throw conflict(outcome.detail, '/body/recordId');
      return reply.status(201).send(toEnrollmentView(outcome.enrollment));
    },
  );

  app.get(
    '/automations/:id/enrollments',
    {
      schema: {
        tags: ['enrollments'],
        summary: "List an automation's enrollments",
        description: 'Newest first. Filters: `status`, `step` (the step an enrollment is at now).',
        params: IdParam,
        querystring: EnrollmentListQuery,
        response: { 200: ListOf(EnrollmentView), ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const ws = request.workspaceId;
      const automation = await findAutomation(app.db, ws, request.params.id);
      if (!automation) throw notFound('automation', request.params.id);
      const { status, step, limit, cursor } = request.query;
      const size = pageSize(limit);
      const before = decodeTimeCursor(cursor);
      const rows = await listEnrollments(app.db, ws, {
        automationId: automation.id,
        ...(status ? { status } : {}),
        ...(step ? { step } : {}),
        ...(before ? { before } : {}),
        limit: size,
      });
      return pageOf(rows, size, toEnrollmentView, (r) => [r.cursor_at, r.id]);
    },
  );

  app.get(
    '/enrollments/:id',
    {
      schema: {
        tags: ['enrollments'],
        summary: 'Read an enrollment with its timeline, messages and tasks',
        params: IdParam,
        response: { 200: EnrollmentDetail, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const ws = request.workspaceId;
      const row = await getEnrollment(app.db, ws, request.params.id);
      if (!row) throw notFound('enrollment', request.params.id);
      const [steps, messages, tasks] = await Promise.all([
        stepsOfEnrollment(app.db, row.id),
        messagesOfEnrollment(app.db, ws, row.id),
        tasksOfEnrollment(app.db, ws, row.id),
      ]);
      return {
        ...toEnrollmentView(row),
        timeline: steps.map((s) => ({
          stepId: s.step_id,
          visit: s.visit,
          type: s.type,
          status: s.status,
          dueAt: iso(s.due_at),
          at: iso(s.at),
          detail: (s.detail ?? {}) as Record<string, unknown>,
        })),
        messages: messages.map(toMessageView),
        tasks: tasks.map(toTaskView),
      };
    },
  );

  app.post(
    '/enrollments/:id/exit',
    {
      schema: {
        tags: ['enrollments'],
        summary: 'Unenroll',
        description: 'Asks the enrollment to exit (reason `manual`); it stops before its next step. 202: the status changes to `exited` shortly after.',
        params: IdParam,
        response: { 202: EnrollmentView, ...v1Problems(400, 404, 409) },
      },
    },
    async (request, reply) => {
      const ws = request.workspaceId;
      const row = await getEnrollment(app.db, ws, request.params.id);
      if (!row) throw notFound('enrollment', request.params.id);
      if (row.status !== 'active' && row.status !== 'paused') throw conflict(`enrollment ${row.id} is ${row.status}`);
      try {
        await app.temporal.workflow.getHandle(row.workflow_id).signal(exitSignal, { reason: 'manual' });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) throw conflict(`enrollment ${row.id} has already ended`);
        throw err;
      }
      return reply.status(202).send(toEnrollmentView(row));
    },
  );

  app.get(
    '/records/:externalId/enrollments',
    {
      schema: {
        tags: ['enrollments'],
        summary: "A record's automations and its progress in each",
        description: 'Every enrollment of the record, newest first, with the automation name and steps run out of the steps of its version.',
        params: RecordParams,
        querystring: ListQueryWith({}),
        response: { 200: ListOf(RecordEnrollmentView), ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const ws = request.workspaceId;
      const record = await getRecord(app.db, ws, request.params.externalId);
      if (!record) throw notFound('record', request.params.externalId);
      const size = pageSize(request.query.limit);
      const before = decodeTimeCursor(request.query.cursor);
      const rows = await enrollmentsOfRecord(app.db, ws, record.external_id, { ...(before ? { before } : {}), limit: size });
      const counts = await stepCounts(
        app.db,
        rows.map((r) => r.id),
      );
      return pageOf(
        rows,
        size,
        (r) => ({
          ...toEnrollmentView(r),
          automationName: r.automation_name,
          automationStatus: r.automation_status,
          stepsRun: counts.get(r.id) ?? 0,
          stepCount: r.step_count,
        }),
        (r) => [r.cursor_at, r.id],
      );
    },
  );
};

export default enrollments;
