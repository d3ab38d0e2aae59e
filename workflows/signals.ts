/** The enrollment workflow's messages and search attributes, shared by the workflow and every client that talks to it. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { EnrollmentEvent, EnrollmentState, RecordChange } from '#domain/enrollment';

export const eventSignal = defineSignal<[EnrollmentEvent]>('event');
export const recordChangedSignal = defineSignal<[RecordChange]>('recordChanged');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const exitSignal = defineSignal<[{ reason: string }]>('exit');
export const stateQuery = defineQuery<EnrollmentState>('state');

export const ENROLLMENT_WORKFLOW = 'enrollmentWorkflow';

/** `enrollment/<workspace>/<automation>/<record>/<n>`: a duplicate start is rejected by Temporal. */
export function enrollmentWorkflowId(workspaceId: string, automationId: string, recordId: string, n: number): string {
  return `enrollment/${workspaceId}/${automationId}/${recordId}/${n}`;
}

/** Registered on the server (scripts/provision, docker-compose) so engineers find any enrollment in the Web UI. */
export const EnrollmentSearchAttributes = {
  WorkspaceId: defineSearchAttributeKey('WorkspaceId', SearchAttributeType.KEYWORD),
  AutomationId: defineSearchAttributeKey('AutomationId', SearchAttributeType.KEYWORD),
  AutomationVersion: defineSearchAttributeKey('AutomationVersion', SearchAttributeType.INT),
  RecordId: defineSearchAttributeKey('RecordId', SearchAttributeType.KEYWORD),
  EnrollmentStatus: defineSearchAttributeKey('EnrollmentStatus', SearchAttributeType.KEYWORD),
  CurrentStep: defineSearchAttributeKey('CurrentStep', SearchAttributeType.KEYWORD),
} as const;
