/**
 * One sweep of a workspace's date and inactivity triggers, started by the workspace's Temporal
 * Schedule (engine/sweep-schedules.ts) every SWEEP_INTERVAL. Its own start time is the moment it
 * sweeps up to: the activities get it as input, so a retried activity sweeps the same span.
 * Automations are swept one after the other; the schedule's overlap policy keeps two sweeps of
 * one workspace from running at once.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { SweepActivities, SweepOutcome } from '#domain/commands';

const quick = proxyActivities<SweepActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
});

/** A big backfill may take long; the heartbeat (with the page cursor) shows it is alive. */
const sweeping = proxyActivities<SweepActivities>({
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '5m' },
});

export async function sweepWorkflow(input: { workspaceId: string }): Promise<SweepOutcome[]> {
  const now = new Date().toISOString();
  const outcomes: SweepOutcome[] = [];
  for (const automationId of await quick.sweepTargets({ workspaceId: input.workspaceId })) {
    outcomes.push(await sweeping.sweepAutomation({ workspaceId: input.workspaceId, automationId, now }));
  }
  return outcomes;
}
