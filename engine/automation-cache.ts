/**
 * The router's view of each workspace's active automations (id, current version, definition).
 * An entry lives for a short TTL, is dropped at once when a lifecycle row for its workspace goes
 * by, and is re-read early when the workspace's automations changed (a cheap max(updated_at)
 * check per batch), so an edit or activation reaches the very next event.
 */
import { activeAutomations, automationsStamp } from '#db/automations';
import type { Db } from '#db/connection';
import type { AutomationDefinition } from '#domain/definition';

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

  constructor(
    private readonly db: Db,
    private readonly ttlMs = 5_000,
  ) {}

  invalidate(workspaceId: string): void {
    this.entries.delete(workspaceId);
  }

  private stampOf(workspaceId: string): Promise<string> {
    return automationsStamp(this.db, workspaceId);
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
    const automations = (await activeAutomations(this.db, workspaceId)).map((r) => ({ ...r, definition: r.definition as AutomationDefinition }));
    this.entries.set(workspaceId, { automations, stamp, until: now + this.ttlMs });
    return automations;
  }
}
