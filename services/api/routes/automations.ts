/**
 * /v1/automations: create (draft), list, read, edit (new immutable version), delete, versions, and
 * the lifecycle (activate, pause, resume, deactivate; the table lives in domain/lifecycle.ts).
 *
 * Every save validates the whole definition against the workspace's live templates, users and
 * webhook endpoints before anything is written, and answers every problem at once
 * (`errors: [{ field: '/body/steps/3/template', message }]`). Each version pins the template
 * versions current when it was saved, so an enrollment keeps the content it entered with.
 *
 * A lifecycle change and the outbox rows that tell the router about it (backfill, pause, resume,
 * cancel) are written in one transaction, under a row lock on the automation. A backfill is
 * cancelled by its own route, or by a pause or deactivation.
 */
import { TypeBoxValidatorCompiler, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyError, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Db } from '#db/connection';
import {
  addAutomationVersion,
  definitionContext,
  findAutomation,
  insertAutomation,
  listAutomations,
  listAutomationVersions,
  lockAutomation,
  setAutomationStatus,
  softDeleteAutomation,
  type AutomationVersionView,
  type AutomationView,
  backfillProgress,
  cancelBackfill,
} from '#db/automations';
import { newId } from '#db/ids';
import { pinnedTemplates } from '#db/templates';
import { sweepIntervalMs } from '#platform/config';
import { ensureSweepSchedule } from '#engine/sweep-schedules';
import { getWorkspaceSettings } from '#db/settings';
import { enqueue } from '#db/outbox';
import { AutomationDefinition } from '#domain/definition';
import { PINNED_INPUT_LIMIT_BYTES, pinnedInputProblem } from '#domain/json-limits';
import { stepsOnChannelsOff } from '#domain/settings';
import { deletion, resolveOnlyNew, transition, type AutomationStatus, type TransitionInput } from '#domain/lifecycle';
import { templateIdsOf } from '#domain/templates';
import { validateDefinition } from '#domain/validate-definition';
import { conflict, HttpProblem, invalid, notFound } from '../errors';
import { decodeTimeCursor, pageOf, pageSize } from '../pagination';
import { iso, ListOf, ListQueryWith, v1Problems } from '../schemas/common';
import { ActivateBody, Automation, AutomationParams, AutomationVersion, DeactivateBody, DefinitionBody, ListAutomationsQuery } from '../schemas/automation';
import { decodeVersionCursor } from './templates';

const TAGS = ['automations'];

function toAutomation(a: AutomationView): Automation {
  return {
    id: a.id,
    name: a.name,
    status: a.status,
    version: a.version,
    currentVersion: a.currentVersion,
    trigger: a.definition.trigger,
    onlyNew: a.onlyNew,
    activatedAt: iso(a.activatedAt),
    templateVersions: a.templateVersions,
    definition: a.definition,
    createdAt: iso(a.createdAt),
    updatedAt: iso(a.updatedAt),
  };
}

/** The read of one automation: with its bulk enrollment when it was activated with `onlyNew: false` on a stage or segment trigger. */
async function withBackfill(db: Db, workspaceId: string, a: AutomationView): Promise<Automation> {
  const bulk = a.onlyNew === false && (a.definition.trigger.type === 'stage_entered' || a.definition.trigger.type === 'segment_entered');
  if (!bulk) return toAutomation(a);
  return { ...toAutomation(a), backfill: { ...(await backfillProgress(db, workspaceId, a)), cancelledAt: iso(a.backfillCancelledAt) } };
}

/** Why an automation has no backfill to cancel. */
function noBackfill(a: AutomationView): string {
  const why =
    a.onlyNew !== false
      ? 'it was not activated with onlyNew: false'
      : a.triggerType === 'date' || a.triggerType === 'inactivity'
        ? `its ${a.triggerType} trigger reaches matching records through its sweep, not a backfill; pause or deactivate it to stop enrolling`
        : a.triggerType === 'stage_entered' || a.triggerType === 'segment_entered'
          ? 'its backfill is done: every matching record was reached'
          : `a ${a.triggerType} trigger has no backfill`;
  return `automation ${a.id} has no backfill running: ${why}`;
}

function toVersion(v: AutomationVersionView, current: number) {
  return {
    version: v.version,
    current: v.version === current,
    name: v.definition.name,
    trigger: v.definition.trigger,
    templateVersions: v.templateVersions,
    definition: v.definition,
    createdAt: iso(v.createdAt),
  };
}

function rethrowNonBody(request: FastifyRequest): void {
  const err = request.validationError as (FastifyError & { validationContext?: string }) | undefined;
  if (err && err.validationContext !== 'body') throw err;
}

/**
 * Validates a definition against the workspace (inside the transaction that will write it) and
 * returns it with the template versions to pin. Schema and semantic problems answer one 400 that
 * lists them all, with pointers under /body.
 */
async function validatedForSave(
  db: Db,
  workspaceId: string,
  body: unknown,
): Promise<{ definition: AutomationDefinition; templateVersions: Record<string, number> }> {
  const ctx = await definitionContext(db, workspaceId);
  const result = validateDefinition(body, { templates: ctx.templates, users: ctx.users, webhookEndpoints: ctx.webhookEndpoints, senders: ctx.senders });
  if (!result.ok) throw invalid(result.problems.map((p) => ({ field: `/body${p.pointer}`, message: p.message })));
  const templateVersions = pin(result.definition, ctx.templates);
  // Every enrollment's workflow input carries the definition and these template versions.
  const tooLarge = pinnedInputProblem(result.definition, await pinnedTemplates(db, workspaceId, templateVersions));
  if (tooLarge) throw invalid([{ field: `/body${tooLarge.pointer}`, message: tooLarge.message }]);
  return { definition: result.definition, templateVersions };
}

function pin(definition: AutomationDefinition, templates: Map<string, { version: number }>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const id of templateIdsOf(definition)) {
    const t = templates.get(id);
    if (t) out[id] = t.version;
  }
  return out;
}

/** Reads the automation back inside the transaction that changed it. */
async function reread(db: Db, workspaceId: string, id: string): Promise<AutomationView> {
  const a = await findAutomation(db, workspaceId, id);
  if (!a) throw new Error(`automation ${id} vanished inside its own transaction`);
  return a;
}

const automations: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(AutomationDefinition);
  // A context that adds a schema gets a fresh schema controller: keep TypeBox as the validator
  // (ajv's removeAdditional would strip fields while trying the branches of the step union).
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  // Responses are built field by field below; compiling fast-json-stringify over the unrolled
  // condition unions of the definition takes minutes, so the response schemas document only.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.post(
    '/automations',
    {
      // Body problems are reported by validateDefinition (all at once, with clean pointers), not
      // by the first failing branch of the schema's unions.
      attachValidation: true,
      schema: {
        tags: TAGS,
        summary: 'Create an automation (draft)',
        description:
          "Validates the definition against the workspace's templates, users and webhook endpoints and stores it as version 1 of a draft. Every problem is reported at once in `errors`, each with its JSON pointer. The template versions current now are pinned to this version. " +
          `Each enrollment's workflow input carries the definition and those template versions: together their JSON may take at most ${PINNED_INPUT_LIMIT_BYTES} bytes (400 naming the template that passes it).`,
        body: DefinitionBody,
        response: { 201: Automation, ...v1Problems(400) },
      },
    },
    async (request, reply) => {
      rethrowNonBody(request);
      const { workspaceId } = request;
      const id = newId('aut');
      const view = await app.db.transaction().execute(async (trx) => {
        const { definition, templateVersions } = await validatedForSave(trx, workspaceId, request.body);
        await insertAutomation(trx, workspaceId, { id, definition, templateVersions });
        return reread(trx, workspaceId, id);
      });
      reply.header('location', `/v1/automations/${id}`);
      return reply.status(201).send(toAutomation(view));
    },
  );

  app.get(
    '/automations',
    {
      schema: {
        tags: TAGS,
        summary: 'List automations',
        description: 'Newest first; filter by `status` and by trigger type (`trigger`). Deleted automations are not listed.',
        querystring: ListAutomationsQuery,
        response: { 200: ListOf(Automation), ...v1Problems(400) },
      },
    },
    async (request) => {
      const limit = pageSize(request.query.limit);
      const after = decodeTimeCursor(request.query.cursor);
      const rows = await listAutomations(app.db, request.workspaceId, {
        status: request.query.status,
        triggerType: request.query.trigger,
        limit: limit + 1,
        after,
      });
      return pageOf(rows, limit, toAutomation, (a) => [iso(a.createdAt), a.id]);
    },
  );

  app.get(
    '/automations/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Read an automation',
        description: "Its status and current version (the one new enrollments get), with that version's definition.",
        params: AutomationParams,
        response: { 200: Automation, ...v1Problems(404) },
      },
    },
    async (request) => {
      const a = await findAutomation(app.db, request.workspaceId, request.params.id);
      if (!a) throw notFound('automation', request.params.id);
      return withBackfill(app.db, request.workspaceId, a);
    },
  );

  app.put(
    '/automations/:id',
    {
      attachValidation: true,
      schema: {
        tags: TAGS,
        summary: 'Edit an automation (writes a new version)',
        description:
          'Validates like create, then writes the next immutable version and makes it current: `currentVersion` in the answer is the version new enrollments get. Records already in keep the version (and template versions) they entered with. Allowed in every status, including active.',
        params: AutomationParams,
        body: DefinitionBody,
        response: { 200: Automation, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      rethrowNonBody(request);
      const { workspaceId } = request;
      const { id } = request.params;
      const view = await app.db.transaction().execute(async (trx) => {
        const row = await lockAutomation(trx, workspaceId, id);
        if (!row) throw notFound('automation', id);
        const { definition, templateVersions } = await validatedForSave(trx, workspaceId, request.body);
        await addAutomationVersion(trx, workspaceId, id, { version: row.current_version + 1, definition, templateVersions });
        return reread(trx, workspaceId, id);
      });
      return toAutomation(view);
    },
  );

  app.delete(
    '/automations/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Delete an automation',
        description:
          'Soft delete: the automation disappears from the API, its versions and enrollments stay for history. Only a draft or inactive automation can be deleted; an active or paused one answers 409: deactivate it first (choosing whether records in flight finish or are cancelled).',
        params: AutomationParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...v1Problems(404, 409) },
      },
    },
    async (request, reply) => {
      const { workspaceId } = request;
      const { id } = request.params;
      await app.db.transaction().execute(async (trx) => {
        const row = await lockAutomation(trx, workspaceId, id);
        if (!row) throw notFound('automation', id);
        const allowed = deletion(row.status);
        if (!allowed.ok) throw conflict(allowed.message, '/status');
        await softDeleteAutomation(trx, workspaceId, id);
      });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/automations/:id/versions',
    {
      schema: {
        tags: TAGS,
        summary: "List an automation's versions",
        description: 'Newest first, each with its definition and the template versions it pins; `current` marks the one new enrollments get.',
        params: AutomationParams,
        querystring: ListQueryWith({}),
        response: { 200: ListOf(AutomationVersion), ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const { workspaceId } = request;
      const a = await findAutomation(app.db, workspaceId, request.params.id);
      if (!a) throw notFound('automation', request.params.id);
      const limit = pageSize(request.query.limit);
      const before = decodeVersionCursor(request.query.cursor);
      const rows = await listAutomationVersions(app.db, workspaceId, a.id, { limit: limit + 1, before });
      return pageOf(
        rows,
        limit,
        (v) => toVersion(v, a.currentVersion),
        (v) => [v.version],
      );
    },
  );

  /** Applies one lifecycle action under the row lock; the outbox rows commit with it. */
  async function applyTransition(workspaceId: string, id: string, input: TransitionInput): Promise<AutomationView> {
    return app.db.transaction().execute(async (trx) => {
      const row = await lockAutomation(trx, workspaceId, id);
      if (!row) throw notFound('automation', id);
      const from = row.status as AutomationStatus;
      const result = transition(from, input);
      if (!result.ok) throw new HttpProblem(409, 'Conflict', { detail: result.message, field: '/status' });
      let onlyNew: boolean | undefined;
      if (input.action === 'activate') {
        const resolved = resolveOnlyNew(row.only_new, input.onlyNew);
        if (!resolved.ok) {
          if (resolved.missing) throw invalid([{ field: '/body/onlyNew', message: resolved.message }]);
          throw conflict(resolved.message, '/body/onlyNew');
        }
        onlyNew = resolved.onlyNew;
        // The workspace may have changed since the save (a template or user deleted): the current
        // version must still hold before records enter it.
        const current = await findAutomation(trx, workspaceId, id);
        const ctx = await definitionContext(trx, workspaceId);
        const check = validateDefinition(current!.definition, {
          templates: ctx.templates,
          users: ctx.users,
          webhookEndpoints: ctx.webhookEndpoints,
          senders: ctx.senders,
        });
        if (!check.ok) {
          throw new HttpProblem(409, 'Conflict', {
            detail: `version ${row.current_version} no longer validates against the workspace; edit the automation (PUT) and activate again`,
            field: '/definition',
            errors: check.problems.map((p) => ({ field: `/definition${p.pointer}`, message: p.message })),
          });
        }
        const off = stepsOnChannelsOff(current!.definition, (await getWorkspaceSettings(trx, workspaceId))!.channels);
        if (off.length > 0) {
          const errors = off.map((p) => ({ field: `/definition${p.pointer}`, message: p.message }));
          throw new HttpProblem(409, 'Conflict', { detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '), field: errors[0]!.field, errors });
        }
      }
      const effects = input.action === 'activate' ? transition(from, { action: 'activate', onlyNew: onlyNew! }) : result;
      if (!effects.ok) throw new Error('unreachable');
      await setAutomationStatus(trx, workspaceId, id, {
        status: effects.to,
        ...(input.action === 'activate' ? { onlyNew: onlyNew!, activated: true } : {}),
      });
      if (effects.cancelsBackfill) await cancelBackfill(trx, workspaceId, id);
      await enqueue(
        trx,
        workspaceId,
        effects.effects.map((e) => ({ ...e, automationId: id })),
      );
      const view = await reread(trx, workspaceId, id);
      // Date and inactivity triggers are swept on the workspace's schedule: made (or healed)
      // before the activation commits, so an active automation always has its sweep.
      if (input.action === 'activate' && (view.triggerType === 'date' || view.triggerType === 'inactivity')) {
        await ensureSweepSchedule(app.temporal, { workspaceId, taskQueue: app.config.TEMPORAL_TASK_QUEUE, intervalMs: sweepIntervalMs(app.config) });
      }
      return view;
    });
  }

  app.post(
    '/automations/:id/activate',
    {
      schema: {
        tags: TAGS,
        summary: 'Activate (draft or inactive -> active)',
        description:
          '`onlyNew: true` enrolls only records that enter from now on; `false` also enrolls every record that already matches (in bulk, by the router). `onlyNew` is required at the first activation and fixed afterwards: repeating it is fine, changing it answers 409. A paused automation is resumed, not activated (409).',
        params: AutomationParams,
        body: ActivateBody,
        response: { 200: Automation, ...v1Problems(400, 404, 409) },
      },
    },
    async (request) => {
      const view = await applyTransition(request.workspaceId, request.params.id, { action: 'activate', onlyNew: request.body.onlyNew as boolean });
      return toAutomation(view);
    },
  );

  app.post(
    '/automations/:id/pause',
    {
      schema: {
        tags: TAGS,
        summary: 'Pause (active -> paused)',
        description: 'No new enrollments; records in flight hold before their next step until resumed.',
        params: AutomationParams,
        response: { 200: Automation, ...v1Problems(404, 409) },
      },
    },
    async (request) => toAutomation(await applyTransition(request.workspaceId, request.params.id, { action: 'pause' })),
  );

  app.post(
    '/automations/:id/resume',
    {
      schema: {
        tags: TAGS,
        summary: 'Resume (paused -> active)',
        description: 'Enrollments start again and records in flight go on.',
        params: AutomationParams,
        response: { 200: Automation, ...v1Problems(404, 409) },
      },
    },
    async (request) => toAutomation(await applyTransition(request.workspaceId, request.params.id, { action: 'resume' })),
  );

  app.post(
    '/automations/:id/deactivate',
    {
      schema: {
        tags: TAGS,
        summary: 'Deactivate (active or paused -> inactive)',
        description:
          'No new enrollments. `inFlight: finish` lets records already in run to the end (resuming them if the automation was paused); `cancel` makes them exit now. Can be activated again later.',
        params: AutomationParams,
        body: DeactivateBody,
        response: { 200: Automation, ...v1Problems(400, 404, 409) },
      },
    },
    async (request) => toAutomation(await applyTransition(request.workspaceId, request.params.id, { action: 'deactivate', inFlight: request.body.inFlight })),
  );

  app.post(
    '/automations/:id/backfill/cancel',
    {
      schema: {
        tags: TAGS,
        summary: 'Cancel the bulk enrollment of an activation with onlyNew: false',
        description:
          'Stops the backfill: no further records already in the stage or segment are enrolled, and a worker restart does not resume it. The automation stays active: records that enter from now on are enrolled as usual, and the enrollments the backfill already started keep running (deactivate with `inFlight: cancel` to end them too). The answer, like later reads, shows `backfill.status` `cancelled` with the final `enrolled` count, or `cancelling` while a router finishes the page of records it has in hand (at most 500). Pausing or deactivating the automation cancels its backfill the same way; resuming does not restart it (deactivate and activate again for a new one). Cancelling again is answered like the first time; an automation with no backfill running (none asked for, or done) answers 409.',
        params: AutomationParams,
        response: { 200: Automation, ...v1Problems(404, 409) },
      },
    },
    async (request) => {
      const { workspaceId } = request;
      const { id } = request.params;
      const view = await app.db.transaction().execute(async (trx) => {
        const row = await lockAutomation(trx, workspaceId, id);
        if (!row) throw notFound('automation', id);
        const a = await reread(trx, workspaceId, id);
        if (!(await cancelBackfill(trx, workspaceId, id)) && a.backfillCancelledAt === null) throw conflict(noBackfill(a), '/backfill/status');
        return reread(trx, workspaceId, id);
      });
      return withBackfill(app.db, workspaceId, view);
    },
  );
};

export default automations;
