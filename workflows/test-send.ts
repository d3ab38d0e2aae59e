/**
 * One test send of a template (POST /v1/templates/{id}/test-send): the enrollment's own send
 * activity, run once with `test: true`, so a test message goes through the same claim-then-send,
 * provider and rate limits as a real one. Started by the API with a workflow id derived from the
 * request's idempotency key: a repeated request finds this run and its message.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities, SendMessageRequest, SendMessageResult } from '#activities/index';
import { SEND_ACTIVITY_OPTIONS } from '#domain/delivery';

const send = proxyActivities<Pick<Activities, 'sendMessage'>>(SEND_ACTIVITY_OPTIONS);

export async function testSendWorkflow(request: SendMessageRequest): Promise<SendMessageResult> {
  return send.sendMessage({ ...request, test: true });
}
