/**
 * The reconciler: the database agrees with Temporal even when no workflow code ran at the end (a
 * terminate from the Web UI or the CLI, an execution timeout, a final write that was lost).
 * Periodically lists the enrollment workflows that closed since its last pass (Temporal
 * visibility), finds the ones whose `enrollments` row is still `active`/`paused`, and ends that
 * row with the reason, logging each repair. Every worker process runs it; an advisory lock lets
 * one pass run at a time.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Db } from '#db/connection';
import { endInFlightEnrollment, inFlightOfWorkflows } from '#db/enrollments';
import { tryJobLock } from '#db/locks';
import type { EndedStatus } from '#domain/enrollment';
import { ENROLLMENT_WORKFLOW } from '#workflows/signals';

export interface ReconcilerOptions {
  db: Db;
  temporal: Client;
  intervalMs: number;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
}

/** Visibility is eventually consistent: each pass looks this far behind the previous one again. */
const OVERLAP_MS = 5 * 60_000;
/** The first pass of a process looks this far back. */
const FIRST_LOOKBACK_MS = 7 * 24 * 3600_000;
const PAGE = 200;

type Ended = { status: EndedStatus; exitReason: string | null; converted: boolean };

export class Reconciler {
  private since = new Date(Date.now() - FIRST_LOOKBACK_MS);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly opts: ReconcilerOptions) {}

  start(): void {
    const tick = () => {
      this.running = this.runOnce()
        .catch((err: unknown) => this.opts.logger.error({ err }, 'reconciler: pass failed; next pass retries'))
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.opts.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One pass; returns the number of rows repaired (0 when another process holds the pass). */
  async runOnce(): Promise<number> {
    return this.opts.db.transaction().execute(async (trx) => {
      if (!(await tryJobLock(trx, 'followup.reconciler'))) return 0;
      const startedAt = Date.now();
      const query =
        `WorkflowType = '${ENROLLMENT_WORKFLOW}' AND ExecutionStatus != 'Running' AND ExecutionStatus != 'ContinuedAsNew' ` +
        `AND CloseTime >= '${this.since.toISOString()}'`;
      let repaired = 0;
      let page: WorkflowExecutionInfo[] = [];
      for await (const wf of this.opts.temporal.workflow.list({ query, pageSize: PAGE })) {
        page.push(wf);
        if (page.length >= PAGE) {
          repaired += await this.repair(trx, page);
          page = [];
        }
      }
      repaired += await this.repair(trx, page);
      this.since = new Date(startedAt - OVERLAP_MS);
      return repaired;
    });
  }

  private async repair(db: Db, closed: WorkflowExecutionInfo[]): Promise<number> {
    const stale = await inFlightOfWorkflows(
      db,
      closed.map((w) => w.workflowId),
    );
    const byId = new Map(closed.map((w) => [w.workflowId, w]));
    let n = 0;
    for (const row of stale) {
      const wf = byId.get(row.workflow_id)!;
      const ended = await this.outcome(wf);
      const endedAt = wf.closeTime ?? new Date();
      if (!(await endInFlightEnrollment(db, row.id, { ...ended, endedAt }))) continue;
      n++;
      this.opts.logger.warn(
        {
          enrollmentId: row.id,
          workspaceId: row.workspace_id,
          workflowId: wf.workflowId,
          runId: wf.runId,
          temporalStatus: wf.status.name,
          was: row.status,
          now: ended.status,
          exitReason: ended.exitReason,
        },
        'reconciler: the workflow closed but its enrollment row was still in flight; row ended',
      );
    }
    return n;
  }

  /** What the row should say, from how Temporal closed the run. */
  private async outcome(wf: WorkflowExecutionInfo): Promise<Ended> {
    switch (wf.status.name) {
      case 'TERMINATED':
        return { status: 'exited', exitReason: 'terminated', converted: false };
      case 'CANCELLED':
        return { status: 'exited', exitReason: 'cancelled', converted: false };
      case 'TIMED_OUT':
        return { status: 'failed', exitReason: 'timed_out', converted: false };
      case 'COMPLETED': {
        // Its own last write was lost: the result says how it ended.
        const r = (await this.opts.temporal.workflow
          .getHandle(wf.workflowId, wf.runId)
          .result()
          .catch(() => undefined)) as Partial<Ended> | undefined;
        const status = r?.status === 'exited' || r?.status === 'failed' ? r.status : 'completed';
        return { status, exitReason: r?.exitReason ?? null, converted: r?.converted === true };
      }
      default:
        return { status: 'failed', exitReason: 'workflow_failed', converted: false };
    }
  }
}
