/**
 * update_record steps: the record row and a `record_changed` outbox row in one transaction, so
 * the router sees the change exactly when it is committed. Idempotent: a retry finds the values
 * already set, changes nothing and enqueues nothing.
 */
import { enqueue } from '../db/outbox';
import type { ActivityDeps } from './deps';
import type { UpdateRecordRequest, UpdateRecordResult } from './types';

const COLUMNS = { name: 'name', email: 'email', phone: 'phone', timezone: 'timezone', stage: 'stage', owner_id: 'owner_id', ownerId: 'owner_id' } as const;
type Column = (typeof COLUMNS)[keyof typeof COLUMNS];
const CHANGE_KEY: Record<Column, string> = { name: 'name', email: 'email', phone: 'phone', timezone: 'timezone', stage: 'stage', owner_id: 'ownerId' };

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function recordActivities(deps: ActivityDeps) {
  const { db, clock } = deps;
  return {
    async updateRecord(req: UpdateRecordRequest): Promise<UpdateRecordResult> {
      return db.transaction().execute(async (tx) => {
        const row = await tx
          .selectFrom('records')
          .selectAll()
          .where('workspace_id', '=', req.workspaceId)
          .where('external_id', '=', req.recordId)
          .forUpdate()
          .executeTakeFirst();
        if (!row) return { changes: {}, found: false };

        const changes: Record<string, unknown> = {};
        const columns: Partial<Record<Column, string | null>> = {};
        const attributes = { ...(row.attributes ?? {}) };
        let attributesChanged = false;
        for (const [key, value] of Object.entries(req.set)) {
          if (key.startsWith('attributes.')) {
            const attr = key.slice('attributes.'.length);
            if (!same(attributes[attr], value)) {
              attributes[attr] = value;
              attributesChanged = true;
              changes[key] = value;
            }
            continue;
          }
          const column = COLUMNS[key as keyof typeof COLUMNS];
          if (!column) continue;
          const next = value === null || value === undefined ? null : String(value);
          if (row[column] !== next) {
            columns[column] = next;
            changes[CHANGE_KEY[column]] = next;
          }
        }
        if (Object.keys(changes).length === 0) return { changes, found: true };

        const now = clock();
        await tx
          .updateTable('records')
          .set({
            ...columns,
            ...(attributesChanged ? { attributes: JSON.stringify(attributes) } : {}),
            ...('stage' in columns ? { stage_changed_at: now } : {}),
            updated_at: now,
          })
          .where('workspace_id', '=', req.workspaceId)
          .where('external_id', '=', req.recordId)
          .execute();
        await enqueue(tx, req.workspaceId, [
          { kind: 'record_changed', changeId: req.changeId, recordId: req.recordId, created: false, changes, at: req.at },
        ]);
        return { changes, found: true };
      });
    },
  };
}
