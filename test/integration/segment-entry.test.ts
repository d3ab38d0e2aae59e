/**
 * True segment entry: a record change carries the fields before it, and `segment_entered` enrolls
 * only a record that did not match before and matches now. With re-entry `always` a change that
 * keeps a matching record matching would otherwise enrol it again (it did before: any change to a
 * field the filter reads counted as an entry).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

let e: EngineTest;
beforeAll(async () => {
  e = await startEngineTest();
});
afterAll(async () => {
  await e?.close();
});

describe('segment_entered', () => {
  it('a change keeps a matching record matching: no new entry; leaving and coming back: a new one', async () => {
    const { id } = await createAutomation(
      e,
      {
        name: 'Hot leads',
        trigger: { type: 'segment_entered', filter: { field: 'record.attributes.score', op: 'gte', value: 50 } },
        settings: { reentry: 'always' },
        steps: [{ id: 'hello', type: 'email', to: 'record', template: 'tpl_hot' }],
      },
      { templates: [{ id: 'tpl_hot' }] },
    );
    const entries = async () => (await e.api('GET', `/v1/automations/${id}/enrollments`)).body.items as Array<{ recordId: string }>;

    await putRecord(e, 'lead_1', { attributes: { score: 60 } });
    await waitFor('the first entry', async () => (await entries()).length === 1);
    await putRecord(e, 'lead_1', { attributes: { score: 70 } }); // still in the segment
    await putRecord(e, 'lead_1', { attributes: { score: 10 } }); // leaves
    await putRecord(e, 'lead_1', { attributes: { score: 80 } }); // enters again
    // Every change routed (the router deletes a row once done), then count.
    await waitFor('the changes routed', async () => {
      const left = await e.t.db.selectFrom('outbox').select('id').where('workspace_id', '=', e.t.workspaceId).where('record_id', '=', 'lead_1').execute();
      return left.length === 0;
    });
    expect((await entries()).map((x) => x.recordId)).toEqual(['lead_1', 'lead_1']);
  });
});
