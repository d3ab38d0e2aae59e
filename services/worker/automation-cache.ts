/**
 * The router's view of each workspace's active automations (id, current version, definition).
 * An entry lives for a short TTL, is dropped at once when a lifecycle row for its workspace goes
 * by, and is re-read early when the workspace's automations changed (a cheap max(updated_at)
 * check per batch), so an edit or activation reaches the very next event.
 */
import { sql } from 'kysely';
import type { Db } from '../../db/connection';
import type { AutomationDefinition } from '../../domain/definition';

export interface ActiveAutomation {
  id: string;
  version: number;
  definition: AutomationDefinition;
}

interface Entry {
  automations: ActiveAutomation[];
  stamp: string;
  until: number;
}

export class AutomationCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly db: Db, private readonly ttlMs = 5_000) {}

  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
  }

  private async stampOf(workspaceId: string): Promise<string> {
    const row = await this.db
      .selectFrom('automations')
      .select([sql<string>`coalesce(max(updated_at), 'epoch')::text`.as('at'), sql<number>`count(*)::int`.as('n')])
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirstOrThrow();
    return `${row.at}/${row.n}`;
  }

  /** Active automations of the workspace; `fresh` re-checks the stamp even inside the TTL. */
  async active(workspaceId: string, fresh = true): Promise<ActiveAutomation[]> {
    const now = Date.now();
    const hit = this.entries.get(workspaceId);
    if (hit && hit.until > now) {
      if (!fresh) return hit.automations;
      const stamp = await this.stampOf(workspaceId);
      if (stamp === hit.stamp) return hit.automations;
    }
    const stamp = await this.stampOf(workspaceId);
    const rows = await this.db
      .selectFrom('automations as a')
      .innerJoin('automation_versions as v', (j) =>
        j.onRef('v.workspace_id', '=', 'a.workspace_id').onRef('v.automation_id', '=', 'a.id').onRef('v.version', '=', 'a.current_version'))
      .select(['a.id', 'a.current_version', 'v.definition'])
      .where('a.workspace_id', '=', workspaceId)
      .where('a.status', '=', 'active')
      .where('a.deleted_at', 'is', null)
      .execute();
    const automations = rows.map((r) => ({ id: r.id, version: r.current_version, definition: r.definition as unknown as AutomationDefinition }));
    this.entries.set(workspaceId, { automations, stamp, until: now + this.ttlMs });
    return automations;
  }
}
