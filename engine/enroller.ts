/**
 * Starting an enrollment: shared by the router (triggers, backfill) and the manual-enrollment
 * route. Builds the workflow input from the automation version, its pinned template versions and
 * the record; decides the sequence number by `settings.reentry`; inserts the enrollments row,
 * then starts the workflow under its business-key id.
 *
 * Crash safety: the enrollment id is derived from the workflow id, so a retry after a crash
 * between the insert and the start (or after a start whose answer was lost) converges on the same
 * row and the same workflow. Starts use REJECT_DUPLICATE, so a retry never re-runs an enrollment
 * that already finished, and WorkflowExecutionAlreadyStartedError is a no-op.
 */
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy, type SignalDefinition } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { Db } from '#db/connection';
import type { EnrollmentRow, RecordRow } from '#db/schema';
import { deleteEnrollment, entryHistory, getEnrollment, insertEnrollment, IN_FLIGHT } from '#db/enrollments';
import { getEvent } from '#db/events';
import { getRecord, recordSnapshot } from '#db/records';
import { findAutomationVersion } from '#db/automations';
import { pinnedTemplates } from '#db/templates';
import type { AutomationDefinition } from '#domain/definition';
import type { EnrollmentInput, TemplateSnapshot, TriggerEvent } from '#domain/enrollment';
import type { WorkspaceSettings } from '#domain/settings';
import { TIMING_RULES } from '#domain/timing';
import { variantLetter } from '#domain/variant';
import { getWorkspaceSettings } from '#db/settings';
import { EnrollmentSearchAttributes as SearchAttributes, enrollmentWorkflowId } from '#workflows/signals';
// By function reference: the start's arguments are type-checked against the workflow's parameters.
import { enrollmentWorkflow } from '#workflows/enrollment';

/** An automation version with everything a workflow input needs; immutable, so cacheable forever. */
export interface VersionContext {
  workspaceId: string;
  automationId: string;
  version: number;
  definition: AutomationDefinition;
  templates: Record<string, TemplateSnapshot>;
}

const SETTINGS_TTL_MS = 5_000;

export type Reentry = 'once' | 'after_exit' | 'always';

export type EnrollOutcome =
  | { kind: 'started'; enrollment: EnrollmentRow }
  /** The same trigger had already enrolled this record (a redelivered outbox row): nothing new. */
  | { kind: 'existing'; enrollment: EnrollmentRow }
  | { kind: 'refused'; reason: 'reentry_once' | 'already_enrolled'; detail: string };

export interface EnrollRequest {
  workspaceId: string;
  version: VersionContext;
  record: RecordRow;
  /** The event that triggered the enrollment (null for manual, stage, segment and backfill entries). */
  trigger: TriggerEvent | null;
  /** Idempotency key of the cause (event id, change id, backfill key); null for manual entries. */
  triggerKey: string | null;
}

/** The record's A/B letter: over the largest variant count of the definition's email steps ('A' without variants). */
export function variantOf(definition: AutomationDefinition, automationId: string, recordId: string): string {
  let count = 1;
  for (const s of definition.steps) if (s.type === 'email' && s.variants) count = Math.max(count, s.variants.length);
  return variantLetter(automationId, recordId, count);
}

/** Deterministic: the same workflow id always maps to the same enrollment id. */
export function enrollmentIdFor(workflowId: string): string {
  return `enr_${createHash('sha256').update(workflowId).digest('base64url').replace(/[-_]/g, '').slice(0, 22)}`;
}

export class Enroller {
  private readonly versions = new Map<string, Promise<VersionContext | undefined>>();
  private readonly settings = new Map<string, { at: number; value: Promise<WorkspaceSettings | undefined> }>();

  constructor(private readonly deps: { db: Db; temporal: Client; taskQueue: string; now?: () => Date }) {}

  /** The version's definition with its pinned template snapshots. Cached: versions never change. */
  versionContext(workspaceId: string, automationId: string, version: number): Promise<VersionContext | undefined> {
    const key = `${workspaceId}/${automationId}/${version}`;
    let hit = this.versions.get(key);
    if (!hit) {
      hit = this.loadVersion(workspaceId, automationId, version);
      this.versions.set(key, hit);
      hit.then(
        (v) => {
          if (!v) this.versions.delete(key);
        },
        () => this.versions.delete(key),
      );
      if (this.versions.size > 5_000) this.versions.delete(this.versions.keys().next().value!);
    }
    return hit;
  }

  private async loadVersion(workspaceId: string, automationId: string, version: number): Promise<VersionContext | undefined> {
    const found = await findAutomationVersion(this.deps.db, workspaceId, automationId, version);
    if (!found) return undefined;
    const templates = await pinnedTemplates(this.deps.db, workspaceId, found.templateVersions);
    return { workspaceId, automationId, version, definition: found.definition, templates };
  }

  /**
   * The workspace's settings, cached for a few seconds: a bulk start reads them once, and a change
   * (PUT /v1/settings) reaches enrollments started from then on.
   */
  private workspaceSettings(workspaceId: string): Promise<WorkspaceSettings | undefined> {
    const now = Date.now();
    const hit = this.settings.get(workspaceId);
    if (hit && now - hit.at < SETTINGS_TTL_MS) return hit.value;
    const value = getWorkspaceSettings(this.deps.db, workspaceId);
    this.settings.set(workspaceId, { at: now, value });
    value.catch(() => this.settings.delete(workspaceId));
    return value;
  }

  /**
   * Enrolls the record unless re-entry forbids it. Idempotent by `triggerKey`: a redelivered
   * trigger finds its enrollment and only makes sure its workflow was started.
   */
  async enroll(req: EnrollRequest): Promise<EnrollOutcome> {
    const { db } = this.deps;
    const v = req.version;
    const recordId = req.record.external_id;
    const reentry: Reentry = v.definition.settings?.reentry ?? 'after_exit';
    for (let attempt = 0; attempt < 5; attempt++) {
      const history = await entryHistory(db, req.workspaceId, v.automationId, recordId, req.triggerKey);
      if (history.byTrigger) {
        const existing = (await getEnrollment(db, req.workspaceId, history.byTrigger))!;
        if (existing.status === 'active' || existing.status === 'paused') {
          const ctx = existing.version === v.version ? v : await this.versionContext(req.workspaceId, v.automationId, existing.version);
          if (ctx) await this.startWorkflow(existing, ctx, req);
        }
        return { kind: 'existing', enrollment: existing };
      }
      if (reentry === 'once' && history.total > 0) {
        return {
          kind: 'refused',
          reason: 'reentry_once',
          detail: `record ${recordId} was already enrolled in automation ${v.automationId} and its re-entry is "once"`,
        };
      }
      if (reentry === 'after_exit' && history.inFlight > 0) {
        return { kind: 'refused', reason: 'already_enrolled', detail: `record ${recordId} is already in automation ${v.automationId} (re-entry "after_exit")` };
      }
      const seq = history.maxSeq + 1;
      const workflowId = enrollmentWorkflowId(req.workspaceId, v.automationId, recordId, seq);
      const id = enrollmentIdFor(workflowId);
      const startedAt = (this.deps.now ?? (() => new Date()))();
      const row = await insertEnrollment(db, {
        id,
        workspaceId: req.workspaceId,
        automationId: v.automationId,
        version: v.version,
        recordId,
        seq,
        workflowId,
        variant: variantOf(v.definition, v.automationId, recordId),
        triggerEventId: req.triggerKey,
        startedAt,
        currentStep: v.definition.steps[0]?.id ?? null,
      });
      if (!row) continue; // another writer took this seq meanwhile: decide again
      try {
        await this.startWorkflow(row, v, req);
      } catch (err) {
        // A manual entry has no trigger to redeliver it: undo, so the caller may simply retry.
        // A routed one keeps its row; the outbox retry finds it by trigger key and starts again.
        if (!req.triggerKey) await deleteEnrollment(db, id);
        throw err;
      }
      return { kind: 'started', enrollment: row };
    }
    return { kind: 'refused', reason: 'already_enrolled', detail: `record ${recordId} is being enrolled in automation ${v.automationId} concurrently` };
  }

  /**
   * Delivers a signal to an enrollment whose workflow was not found. While its row is in flight the
   * workflow was never started (its start failed and waits for a retry, or another process is
   * between the insert and the start): signal-with-start starts it with the signal, so the signal
   * is not lost. 'ended' when the enrollment is over (by its row, or in Temporal: the reconciler
   * brings the row in line).
   */
  async signalWithStart<Args extends unknown[]>(
    workspaceId: string,
    enrollmentId: string,
    signal: SignalDefinition<Args>,
    args: Args,
  ): Promise<'delivered' | 'ended'> {
    const { db } = this.deps;
    const row = await getEnrollment(db, workspaceId, enrollmentId);
    if (!row || !IN_FLIGHT.includes(row.status)) return 'ended';
    const [v, record, trigger] = await Promise.all([
      this.versionContext(workspaceId, row.automation_id, row.version),
      getRecord(db, workspaceId, row.record_id),
      row.trigger_event_id ? getEvent(db, workspaceId, row.trigger_event_id) : undefined,
    ]);
    if (!v || !record) throw new Error(`enrollment ${row.id}: its automation version or record is gone; cannot start its workflow`);
    try {
      await this.deps.temporal.workflow.signalWithStart(enrollmentWorkflow, {
        ...(await this.startOptions(row, v, record, trigger ?? null)),
        // By name: the definition's generic argument tuple does not survive the SDK's conditional option type.
        signal: signal.name,
        signalArgs: args as unknown[],
      });
      return 'delivered';
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'ended'; // closed meanwhile (REJECT_DUPLICATE)
      throw err;
    }
  }

  private async startWorkflow(row: EnrollmentRow, v: VersionContext, req: EnrollRequest): Promise<void> {
    try {
      await this.deps.temporal.workflow.start(enrollmentWorkflow, await this.startOptions(row, v, req.record, req.trigger));
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
  }

  /** Everything a start of the enrollment's workflow sends (a plain start, or signal-with-start). */
  private async startOptions(row: EnrollmentRow, v: VersionContext, record: RecordRow, trigger: TriggerEvent | null) {
    const settings = await this.workspaceSettings(row.workspace_id);
    const input: EnrollmentInput = {
      v: 2,
      enrollmentId: row.id,
      workspaceId: row.workspace_id,
      workspaceTimezone: settings?.timezone ?? 'UTC',
      automationId: row.automation_id,
      version: v.version,
      definition: v.definition,
      templates: v.templates,
      record: recordSnapshot(record),
      trigger,
      variant: row.variant ?? variantOf(v.definition, row.automation_id, row.record_id),
      startedAt: row.started_at.toISOString(),
      timingRules: TIMING_RULES,
      workspaceQuietHours: settings?.quietHours ?? null,
    };
    return {
      workflowId: row.workflow_id,
      taskQueue: this.deps.taskQueue,
      args: [input] satisfies Parameters<typeof enrollmentWorkflow>,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      typedSearchAttributes: [
        { key: SearchAttributes.WorkspaceId, value: row.workspace_id },
        { key: SearchAttributes.AutomationId, value: row.automation_id },
        { key: SearchAttributes.AutomationVersion, value: v.version },
        { key: SearchAttributes.RecordId, value: row.record_id },
        { key: SearchAttributes.EnrollmentStatus, value: 'active' },
        ...(row.current_step ? [{ key: SearchAttributes.CurrentStep, value: row.current_step }] : []),
      ],
    };
  }
}
