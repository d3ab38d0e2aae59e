/**
 * Test data for `npm run test:contract`: one resource of every kind the document has an `{id}` path
 * for, made in the contract test's workspace through the API (messages, tasks and dead letters,
 * which only the worker writes, straight into their tables through db/). schemathesis.toml puts
 * each id into its operations' path parameters, so those operations are exercised beyond 404.
 * Operations that delete or change the state of a resource get one of their own, so a DELETE or a
 * deactivation run early does not leave the other operations only 404s or 409s.
 *
 * The templates take the ids the document's examples use (tpl_howwas_a, ...), so the example
 * automation of POST /v1/automations refers to templates that exist.
 */
import { expect } from 'vitest';
import { deadLetterRow, lockDueRows } from '#db/outbox';
import { insertMessageOnce } from '#db/messages';
import { insertTask } from '#db/tasks';
import { EXAMPLE_DEFINITION } from '#services/api/schemas/automation';
import type { TestApp } from '../helpers/app';

const TEMPLATES = [
  { id: 'tpl_howwas_a', name: 'How was it? (A)', channel: 'email' as const, content: { subject: 'How was it, {{ record.name }}?', text: 'Rate us (A)' } },
  { id: 'tpl_howwas_b', name: 'How was it? (B)', channel: 'email' as const, content: { subject: 'Quick question', text: 'Rate us (B)' } },
  { id: 'tpl_reminder', name: 'Reminder', channel: 'email' as const, content: { subject: 'Still time to rate', text: 'Reminder' } },
  { id: 'tpl_referral', name: 'Referral', channel: 'email' as const, content: { subject: 'Tell a friend', text: 'Referral' } },
  { id: 'tpl_call_back', name: 'Call back', channel: 'task' as const, content: { title: 'Call {{ record.name }} back', body: 'Rated {{ event.rating }}' } },
  { id: 'tpl_contract_delete', name: 'Deleted by the fuzzer', channel: 'sms' as const, content: { body: 'Hi {{ record.name }}' } },
];

/** What `fn` answered, after checking its status: the seed is only useful when every step worked. */
async function made<T>(what: string, status: number, fn: () => Promise<{ data?: T; response: Response; error?: unknown }>): Promise<T> {
  const { data, response, error } = await fn();
  expect(response.status, `${what}: ${JSON.stringify(error)}`).toBe(status);
  return data!;
}

/** Seeds the workspace of `t`; returns the environment variables schemathesis.toml reads. */
export async function seedContractData(t: TestApp): Promise<Record<string, string>> {
  const c = t.client;
  const id = (value: string) => ({ params: { path: { id: value } } });
  for (const body of TEMPLATES) await made(`template ${body.id}`, 201, () => c.POST('/v1/templates', { body }));

  const recordId = 'rec-contract';
  await made('record', 201, () =>
    c.PUT('/v1/records/{externalId}', {
      params: { path: { externalId: recordId } },
      body: { email: 'ana@example.com', phone: '+40712345678', name: 'Ana Pop', timezone: 'Europe/Bucharest', attributes: { service: 'cleaning' } },
    }),
  );
  const automation = () => made('automation', 201, () => c.POST('/v1/automations', { body: structuredClone(EXAMPLE_DEFINITION) as never }));
  const active = await automation();
  const lifecycle = await automation();
  const doomed = await automation();
  await made('activation', 200, () => c.POST('/v1/automations/{id}/activate', { ...id(active.id), body: { onlyNew: true } }));
  const enrollment = await made('enrollment', 201, () => c.POST('/v1/automations/{id}/enrollments', { ...id(active.id), body: { recordId } }));

  const user = () => made('user', 201, () => c.POST('/v1/users', { body: { name: 'Maria Ionescu', email: 'maria@agency.example' } }));
  const endpoint = () =>
    made('webhook endpoint', 201, () =>
      c.POST('/v1/webhook-endpoints', { body: { url: 'https://crm.example.com/hooks/followups', events: ['enrollment.completed'] } }),
    );
  const sender = () =>
    made('sender', 201, () => c.POST('/v1/senders', { body: { channel: 'email', from: 'hello@sparkle.example', name: 'Sparkle Cleaning' } }));
  const [userKept, userDoomed, endpointKept, endpointDoomed, senderKept, senderDoomed] = [
    await user(),
    await user(),
    await endpoint(),
    await endpoint(),
    await sender(),
    await sender(),
  ];
  const key = await made('api key', 201, () => c.POST('/v1/api-keys', { body: { name: 'revoked by the fuzzer' } }));
  await made('suppression', 201, () => c.POST('/v1/suppressions', { body: { channel: 'sms', address: '+40712345678', reason: 'contract test' } }));

  const now = new Date();
  const message = await insertMessageOnce(t.db, {
    id: 'msg_contract',
    workspace_id: t.workspaceId,
    idempotency_key: `contract-${t.workspaceId}`,
    automation_id: active.id,
    step_id: 'ask',
    record_id: recordId,
    channel: 'email',
    to: 'ana@example.com',
    status: 'sent',
    created_at: now,
    sent_at: now,
    updated_at: now,
  });
  const task = await insertTask(t.db, { id: 'tsk_contract', workspace_id: t.workspaceId, title: 'Call Ana back', created_at: now });
  // No router runs here: the oldest of the rows the record and the automations queued is parked by hand.
  const [row] = await lockDueRows(t.db, 1);
  await deadLetterRow(t.db, row!, 'parked for the contract test');
  const deadLetter = await t.db.selectFrom('outbox_dead_letters').select('id').where('outbox_id', '=', row!.id).executeTakeFirstOrThrow();
  const other = await t.otherWorkspace();

  return {
    CONTRACT_TEMPLATE: 'tpl_howwas_a',
    CONTRACT_TEMPLATE_DELETE: 'tpl_contract_delete',
    CONTRACT_RECORD: recordId,
    CONTRACT_AUTOMATION: active.id,
    CONTRACT_AUTOMATION_LIFECYCLE: lifecycle.id,
    CONTRACT_AUTOMATION_DELETE: doomed.id,
    CONTRACT_ENROLLMENT: enrollment.id,
    CONTRACT_USER: userKept.id,
    CONTRACT_USER_DELETE: userDoomed.id,
    CONTRACT_WEBHOOK_ENDPOINT: endpointKept.id,
    CONTRACT_WEBHOOK_ENDPOINT_DELETE: endpointDoomed.id,
    CONTRACT_SENDER: senderKept.id,
    CONTRACT_SENDER_DELETE: senderDoomed.id,
    CONTRACT_API_KEY_DELETE: key.id,
    CONTRACT_MESSAGE: message.id,
    CONTRACT_TASK: task!.id,
    CONTRACT_DEAD_LETTER: String(deadLetter.id),
    CONTRACT_OTHER_WORKSPACE: other.workspaceId,
  };
}
