/**
 * Automations and their immutable versions. An automation row holds the name, status, trigger
 * type (for filtering), the version new enrollments get (current_version) and the `only_new`
 * choice fixed at first activation; each save writes an automation_versions row with the
 * definition and the template versions it pins. Scoped by workspace; takes a Kysely instance or a
 * transaction.
 */
import { sql } from 'kysely';
import type { AutomationDefinition } from '#domain/definition';
import type { AutomationStatus } from '#domain/lifecycle';
import type { Db } from './connection';
import { keysetPage, type Cursor } from './keyset';
import type { SenderChannel, TemplateChannel } from './schema';

export interface AutomationView {
  id: string;
  name: string;
  status: AutomationStatus;
  version: number;
  currentVersion: number;
  triggerType: string;
  definition: AutomationDefinition;
  templateVersions: Record<string, number>;
  onlyNew: boolean | null;
  activatedAt: Date | null;
  backfillCancelledAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  versionCreatedAt: Date;
}

export interface AutomationVersionView {
  version: number;
  definition: AutomationDefinition;
  templateVersions: Record<string, number>;
  createdAt: Date;
}

function baseQuery(db: Db, workspaceId: string) {
  return db
    .selectFrom('automations as a')
    .innerJoin('automation_versions as v', (j) =>
      j.onRef('v.workspace_id', '=', 'a.workspace_id').onRef('v.automation_id', '=', 'a.id').onRef('v.version', '=', 'a.current_version'),
    )
    .where('a.workspace_id', '=', workspaceId)
    .where('a.deleted_at', 'is', null)
    .select([
      'a.id',
      'a.name',
      'a.status',
      'a.current_version',
      'a.trigger_type',
      'a.only_new',
      'a.activated_at',
      'a.backfill_cancelled_at',
      'a.created_at',
      'a.updated_at',
      'v.definition',
      'v.template_versions',
      'v.created_at as version_created_at',
    ]);
}

type JoinedRow = {
  id: string;
  name: string;
  status: AutomationStatus;
  current_version: number;
  trigger_type: string;
  only_new: boolean | null;
  activated_at: Date | null;
  backfill_cancelled_at: Date | null;
  created_at: Date;
  updated_at: Date;
  definition: Record<string, unknown>;
  template_versions: Record<string, number>;
  version_created_at: Date;
};

function toView(row: JoinedRow): AutomationView {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    version: row.current_version,
    currentVersion: row.current_version,
    triggerType: row.trigger_type,
    definition: row.definition as unknown as AutomationDefinition,
    templateVersions: row.template_versions,
    onlyNew: row.only_new,
    activatedAt: row.activated_at,
    backfillCancelledAt: row.backfill_cancelled_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    versionCreatedAt: row.version_created_at,
  };
}

export async function findAutomation(db: Db, workspaceId: string, id: string): Promise<AutomationView | undefined> {
  const row = await baseQuery(db, workspaceId).where('a.id', '=', id).executeTakeFirst();
  return row && toView(row as JoinedRow);
}

export async function listAutomations(
  db: Db,
  workspaceId: string,
  opts: { status?: AutomationStatus; triggerType?: string; limit: number; after?: Cursor },
): Promise<AutomationView[]> {
  let q = baseQuery(db, workspaceId);
  if (opts.status) q = q.where('a.status', '=', opts.status);
  if (opts.triggerType) q = q.where('a.trigger_type', '=', opts.triggerType);
  const rows = await keysetPage(q, { at: 'a.created_at', id: 'a.id', order: 'desc' }, opts.after, opts.limit).execute();
  return rows.map((r) => toView(r as JoinedRow));
}

/** Locks a live automation row for the rest of the transaction. */
export async function lockAutomation(db: Db, workspaceId: string, id: string) {
  return db
    .selectFrom('automations')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
}

export async function insertAutomation(
  db: Db,
  workspaceId: string,
  input: { id: string; definition: AutomationDefinition; templateVersions: Record<string, number> },
): Promise<void> {
  // Millisecond timestamps: list cursors carry them through JSON without losing order.
  const now = new Date();
  await db
    .insertInto('automations')
    .values({
      workspace_id: workspaceId,
      id: input.id,
      name: input.definition.name,
      status: 'draft',
      current_version: 1,
      trigger_type: input.definition.trigger.type,
      created_at: now,
      updated_at: now,
    })
    .execute();
  await db
    .insertInto('automation_versions')
    .values({
      workspace_id: workspaceId,
      automation_id: input.id,
      version: 1,
      definition: JSON.stringify(input.definition),
      template_versions: JSON.stringify(input.templateVersions),
      created_at: now,
    })
    .execute();
}

/** Writes the next version and makes it current (inside a transaction, after lockAutomation). */
export async function addAutomationVersion(
  db: Db,
  workspaceId: string,
  id: string,
  input: { version: number; definition: AutomationDefinition; templateVersions: Record<string, number> },
): Promise<void> {
  const now = new Date();
  await db
    .insertInto('automation_versions')
    .values({
      workspace_id: workspaceId,
      automation_id: id,
      version: input.version,
      definition: JSON.stringify(input.definition),
      template_versions: JSON.stringify(input.templateVersions),
      created_at: now,
    })
    .execute();
  await db
    .updateTable('automations')
    .set({ name: input.definition.name, trigger_type: input.definition.trigger.type, current_version: input.version, updated_at: now })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

export async function setAutomationStatus(
  db: Db,
  workspaceId: string,
  id: string,
  change: { status: AutomationStatus; onlyNew?: boolean; activated?: boolean },
): Promise<void> {
  const now = new Date();
  await db
    .updateTable('automations')
    .set({
      status: change.status,
      updated_at: now,
      ...(change.onlyNew !== undefined ? { only_new: change.onlyNew } : {}),
      // A new activation starts a new backfill (or none): an earlier one's cancellation is history.
      ...(change.activated ? { activated_at: now, backfill_cancelled_at: null } : {}),
    })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

export async function softDeleteAutomation(db: Db, workspaceId: string, id: string): Promise<void> {
  const now = new Date();
  await db.updateTable('automations').set({ deleted_at: now, updated_at: now }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

export async function listAutomationVersions(
  db: Db,
  workspaceId: string,
  id: string,
  opts: { limit: number; before?: number },
): Promise<AutomationVersionView[]> {
  let q = db
    .selectFrom('automation_versions')
    .select(['version', 'definition', 'template_versions', 'created_at'])
    .where('workspace_id', '=', workspaceId)
    .where('automation_id', '=', id);
  if (opts.before !== undefined) q = q.where('version', '<', opts.before);
  const rows = await q.orderBy('version', 'desc').limit(opts.limit).execute();
  return rows.map((r) => ({
    version: r.version,
    definition: r.definition as unknown as AutomationDefinition,
    templateVersions: r.template_versions,
    createdAt: r.created_at,
  }));
}

/** What validateDefinition checks references against: live templates, users, webhook endpoints. */
export async function definitionContext(
  db: Db,
  workspaceId: string,
): Promise<{
  templates: Map<string, { channel: TemplateChannel; version: number }>;
  users: Set<string>;
  webhookEndpoints: Set<string>;
  senders: Map<string, { channel: SenderChannel }>;
}> {
  const [templates, users, endpoints, senders] = await Promise.all([
    db.selectFrom('templates').select(['id', 'channel', 'current_version']).where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null).execute(),
    db.selectFrom('users').select('id').where('workspace_id', '=', workspaceId).execute(),
    db.selectFrom('webhook_endpoints').select('id').where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null).execute(),
    db.selectFrom('senders').select(['id', 'channel']).where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null).execute(),
  ]);
  return {
    templates: new Map(templates.map((t) => [t.id, { channel: t.channel, version: t.current_version }])),
    users: new Set(users.map((u) => u.id)),
    webhookEndpoints: new Set(endpoints.map((e) => e.id)),
    senders: new Map(senders.map((s) => [s.id, { channel: s.channel }])),
  };
}

/** One version of an automation (any version, current or not). */
export async function findAutomationVersion(
  db: Db,
  workspaceId: string,
  automationId: string,
  version: number,
): Promise<{ version: number; definition: AutomationDefinition; templateVersions: Record<string, number> } | undefined> {
  const row = await db
    .selectFrom('automation_versions')
    .select(['version', 'definition', 'template_versions'])
    .where('workspace_id', '=', workspaceId)
    .where('automation_id', '=', automationId)
    .where('version', '=', version)
    .executeTakeFirst();
  return (
    row && {
      version: row.version,
      definition: row.definition as unknown as AutomationDefinition,
      templateVersions: (row.template_versions ?? {}) as Record<string, number>,
    }
  );
}

/** A cheap fingerprint of a workspace's automations (latest change, count): the router's cache re-reads when it moves. */
export async function automationsStamp(db: Db, workspaceId: string): Promise<string> {
  const row = await db
    .selectFrom('automations')
    .select([sql<string>`coalesce(max(updated_at), 'epoch')::text`.as('at'), sql<number>`count(*)::int`.as('n')])
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirstOrThrow();
  return `${row.at}/${row.n}`;
}

/** The workspace's active automations with their current version's definition. */
export async function activeAutomations(db: Db, workspaceId: string): Promise<Array<{ id: string; version: number; definition: unknown }>> {
  const rows = await db
    .selectFrom('automations as a')
    .innerJoin('automation_versions as v', (j) =>
      j.onRef('v.workspace_id', '=', 'a.workspace_id').onRef('v.automation_id', '=', 'a.id').onRef('v.version', '=', 'a.current_version'),
    )
    .select(['a.id', 'a.current_version', 'v.definition'])
    .where('a.workspace_id', '=', workspaceId)
    .where('a.status', '=', 'active')
    .where('a.deleted_at', 'is', null)
    .execute();
  return rows.map((r) => ({ id: r.id, version: r.current_version, definition: r.definition }));
}

/** The trigger key of an enrollment made by an automation's backfill (outbox row `outboxId`). */
export function backfillTriggerKey(outboxId: number): string {
  return `backfill:${outboxId}`;
}

/** Where an `onlyNew: false` backfill stands (see backfillProgress). */
export type BackfillStatus = 'running' | 'cancelling' | 'cancelled' | 'done';

const backfillRows = (db: Db, workspaceId: string, automationId: string) =>
  db
    .selectFrom('outbox')
    .select('id')
    .where('workspace_id', '=', workspaceId)
    .where('kind', '=', 'automation_backfill')
    .where(sql<string>`payload->>'automationId'`, '=', automationId);

/**
 * An `onlyNew: false` backfill: `running` while its outbox row is being worked through,
 * `cancelling` when it was cancelled while a router holds that row (the page in hand, at most a
 * router page of records, still enrolls), `cancelled` once the row is gone after a cancellation
 * (the count is final), `done` when every matching record was reached; and the records it enrolled.
 */
export async function backfillProgress(
  db: Db,
  workspaceId: string,
  automation: Pick<AutomationView, 'id' | 'backfillCancelledAt'>,
): Promise<{ status: BackfillStatus; enrolled: number }> {
  const [pending, enrolled] = await Promise.all([
    backfillRows(db, workspaceId, automation.id).limit(1).executeTakeFirst(),
    db
      .selectFrom('enrollments')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('automation_id', '=', automation.id)
      .where('trigger_event_id', 'like', 'backfill:%')
      .executeTakeFirstOrThrow(),
  ]);
  const cancelled = automation.backfillCancelledAt !== null;
  const status = pending ? (cancelled ? 'cancelling' : 'running') : cancelled ? 'cancelled' : 'done';
  return { status, enrolled: enrolled.n };
}

/** The automation's newest backfill row: a later activation's backfill supersedes an earlier one still queued. */
export async function latestBackfillRow(db: Db, workspaceId: string, automationId: string): Promise<number | undefined> {
  const row = await backfillRows(db, workspaceId, automationId).orderBy('id', 'desc').limit(1).executeTakeFirst();
  return row?.id;
}

/**
 * Cancels the automation's running backfill, inside the caller's transaction (which holds the
 * automation's row lock): marks it cancelled, so a router that visits its row next ends it, and
 * deletes the row now unless a router holds it (SKIP LOCKED: waiting for the router's batch here,
 * under the automation's lock, would wait on the router's own enrollment inserts). False when no
 * backfill is running (none was asked for, it is done, or it was cancelled already).
 */
export async function cancelBackfill(db: Db, workspaceId: string, automationId: string): Promise<boolean> {
  const pending = await backfillRows(db, workspaceId, automationId).limit(1).executeTakeFirst();
  if (!pending) return false;
  const marked = await db
    .updateTable('automations')
    .set({ backfill_cancelled_at: new Date() })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', automationId)
    .where('backfill_cancelled_at', 'is', null)
    .executeTakeFirst();
  if (marked.numUpdatedRows === 0n) return false;
  await db
    .deleteFrom('outbox')
    .where('id', 'in', backfillRows(db, workspaceId, automationId).forUpdate().skipLocked())
    .execute();
  return true;
}
