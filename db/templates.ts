/**
 * Templates and their immutable versions. Every function is scoped by workspace and takes a
 * Kysely instance or a transaction. A template row holds the name, channel and current version;
 * content lives only in template_versions, one row per save, never updated.
 */
import { sql } from 'kysely';
import type { Db } from './connection';
import { keysetPage, type Cursor } from './keyset';
import type { TemplateChannel } from './schema';
import type { TemplateSnapshot } from '#domain/enrollment';

export interface TemplateView {
  id: string;
  name: string;
  channel: TemplateChannel;
  version: number;
  content: Record<string, string>;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export interface TemplateVersionView {
  templateId: string;
  version: number;
  content: Record<string, string>;
  createdAt: Date;
}

function baseQuery(db: Db, workspaceId: string) {
  return db
    .selectFrom('templates as t')
    .innerJoin('template_versions as v', (j) =>
      j.onRef('v.workspace_id', '=', 't.workspace_id').onRef('v.template_id', '=', 't.id').onRef('v.version', '=', 't.current_version'),
    )
    .where('t.workspace_id', '=', workspaceId)
    .select(['t.id', 't.name', 't.channel', 't.current_version', 't.created_at', 't.updated_at', 't.deleted_at', 'v.content']);
}

type JoinedRow = {
  id: string;
  name: string;
  channel: TemplateChannel;
  current_version: number;
  created_at: Date;
  updated_at: Date;
  deleted_at: Date | null;
  content: Record<string, unknown>;
};

function toView(row: JoinedRow): TemplateView {
  return {
    id: row.id,
    name: row.name,
    channel: row.channel,
    version: row.current_version,
    content: row.content as Record<string, string>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}

/** A template with its current content; deleted ones only when asked. */
export async function findTemplate(db: Db, workspaceId: string, id: string, opts: { includeDeleted?: boolean } = {}): Promise<TemplateView | undefined> {
  let q = baseQuery(db, workspaceId).where('t.id', '=', id);
  if (!opts.includeDeleted) q = q.where('t.deleted_at', 'is', null);
  const row = await q.executeTakeFirst();
  return row && toView(row);
}

/** Whether the id is taken in the workspace, deleted templates included (their versions stay pinned). */
export async function templateIdTaken(db: Db, workspaceId: string, id: string): Promise<boolean> {
  const row = await db.selectFrom('templates').select('id').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row !== undefined;
}

export async function insertTemplate(
  db: Db,
  workspaceId: string,
  input: { id: string; name: string; channel: TemplateChannel; content: Record<string, string> },
): Promise<TemplateView> {
  // Millisecond timestamps: list cursors carry them through JSON without losing order.
  const now = new Date();
  await db
    .insertInto('templates')
    .values({ workspace_id: workspaceId, id: input.id, name: input.name, channel: input.channel, current_version: 1, created_at: now, updated_at: now })
    .execute();
  await db
    .insertInto('template_versions')
    .values({ workspace_id: workspaceId, template_id: input.id, version: 1, content: JSON.stringify(input.content), created_at: now })
    .execute();
  return { id: input.id, name: input.name, channel: input.channel, version: 1, content: input.content, createdAt: now, updatedAt: now, deletedAt: null };
}

/** Locks a live template row for the rest of the transaction. */
export async function lockTemplate(db: Db, workspaceId: string, id: string) {
  return db
    .selectFrom('templates')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .forUpdate()
    .executeTakeFirst();
}

/** Writes the next version (call inside a transaction, after lockTemplate). */
export async function addTemplateVersion(
  db: Db,
  workspaceId: string,
  id: string,
  input: { version: number; name: string; content: Record<string, string> },
): Promise<void> {
  const now = new Date();
  await db
    .insertInto('template_versions')
    .values({ workspace_id: workspaceId, template_id: id, version: input.version, content: JSON.stringify(input.content), created_at: now })
    .execute();
  await db
    .updateTable('templates')
    .set({ name: input.name, current_version: input.version, updated_at: now })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .execute();
}

export async function listTemplates(db: Db, workspaceId: string, opts: { channel?: TemplateChannel; limit: number; after?: Cursor }): Promise<TemplateView[]> {
  let q = baseQuery(db, workspaceId).where('t.deleted_at', 'is', null);
  if (opts.channel) q = q.where('t.channel', '=', opts.channel);
  const rows = await keysetPage(q, { at: 't.created_at', id: 't.id', order: 'desc' }, opts.after, opts.limit).execute();
  return rows.map(toView);
}

export async function listTemplateVersions(db: Db, workspaceId: string, id: string, opts: { limit: number; before?: number }): Promise<TemplateVersionView[]> {
  let q = db
    .selectFrom('template_versions')
    .select(['template_id', 'version', 'content', 'created_at'])
    .where('workspace_id', '=', workspaceId)
    .where('template_id', '=', id);
  if (opts.before !== undefined) q = q.where('version', '<', opts.before);
  const rows = await q.orderBy('version', 'desc').limit(opts.limit).execute();
  return rows.map((r) => ({ templateId: r.template_id, version: r.version, content: r.content as Record<string, string>, createdAt: r.created_at }));
}

export async function softDeleteTemplate(db: Db, workspaceId: string, id: string): Promise<void> {
  const now = new Date();
  await db.updateTable('templates').set({ deleted_at: now, updated_at: now }).where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}

/** Active or paused automations whose current version uses the template. */
export async function liveAutomationsUsingTemplate(
  db: Db,
  workspaceId: string,
  templateId: string,
): Promise<Array<{ id: string; name: string; status: string }>> {
  return db
    .selectFrom('automations as a')
    .innerJoin('automation_versions as v', (j) =>
      j.onRef('v.workspace_id', '=', 'a.workspace_id').onRef('v.automation_id', '=', 'a.id').onRef('v.version', '=', 'a.current_version'),
    )
    .select(['a.id', 'a.name', 'a.status'])
    .where('a.workspace_id', '=', workspaceId)
    .where('a.deleted_at', 'is', null)
    .where('a.status', 'in', ['active', 'paused'])
    .where(sql<boolean>`v.template_versions ? ${templateId}`)
    .orderBy('a.id')
    .execute();
}

/** The template versions an automation version pins (`{ templateId: version }`), as enrollment snapshots. */
export async function pinnedTemplates(db: Db, workspaceId: string, pins: Record<string, number>): Promise<Record<string, TemplateSnapshot>> {
  const pinned = Object.entries(pins);
  const out: Record<string, TemplateSnapshot> = {};
  if (pinned.length === 0) return out;
  const rows = await db
    .selectFrom('template_versions as tv')
    .innerJoin('templates as t', (j) => j.onRef('t.workspace_id', '=', 'tv.workspace_id').onRef('t.id', '=', 'tv.template_id'))
    .select(['tv.template_id', 'tv.version', 'tv.content', 't.channel'])
    .where('tv.workspace_id', '=', workspaceId)
    .where((eb) => eb.or(pinned.map(([id, v]) => eb.and([eb('tv.template_id', '=', id), eb('tv.version', '=', v)]))))
    .execute();
  for (const t of rows) out[t.template_id] = { id: t.template_id, version: t.version, channel: t.channel, content: t.content as Record<string, string> };
  return out;
}
