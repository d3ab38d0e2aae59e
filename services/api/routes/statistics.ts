import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { findAutomation } from '#db/automations';
import { automationLabels, automationMessageCounts, enrollmentCounts, enrollmentsByStep, exitReasons, workspaceMessageCounts } from '#db/statistics';
import { invalid, notFound } from '../errors';
import { v1Problems } from '../schemas/common';
import { AutomationParams } from '../schemas/automation';
import { AutomationStats, DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS, StatsQuery, toAutomationStats, toWorkspaceStats, WorkspaceStats } from '../schemas/statistics';

const DAY_MS = 86_400_000;
/** The default `from` is never earlier: the answer's date-time format has no year 0. */
const EARLIEST_FROM_MS = Date.parse('0001-01-01T00:00:00Z');

/** The window a request counts over: defaults filled, `from` before `to`, at most MAX_WINDOW_DAYS long. */
function windowOf(query: StatsQuery): { from: Date; to: Date } {
  const to = query.to ? new Date(query.to) : new Date();
  const from = query.from ? new Date(query.from) : new Date(Math.max(to.getTime() - DEFAULT_WINDOW_DAYS * DAY_MS, EARLIEST_FROM_MS));
  if (Number.isNaN(from.getTime())) throw invalid([{ field: '/querystring/from', message: 'is not a date' }]);
  if (Number.isNaN(to.getTime())) throw invalid([{ field: '/querystring/to', message: 'is not a date' }]);
  if (from >= to) throw invalid([{ field: '/querystring/from', message: 'must be before `to`' }]);
  if (to.getTime() - from.getTime() > MAX_WINDOW_DAYS * DAY_MS)
    throw invalid([{ field: '/querystring/from', message: `the window may span at most ${MAX_WINDOW_DAYS} days` }]);
  return { from, to };
}

const statistics: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/automations/:id/stats',
    {
      schema: {
        tags: ['automations'],
        summary: "An automation's statistics",
        description:
          'Enrollments running now per step; enrollments started and ended in the window (completed, exited by reason, failed, converted); messages created in the window per step and per A/B variant (sent, delivered, opened, clicked, bounced, unsubscribed, replied, failed, suppressed); and the rates. Test sends are never counted.',
        params: AutomationParams,
        querystring: StatsQuery,
        response: { 200: AutomationStats, ...v1Problems(400, 404) },
      },
    },
    async (request) => {
      const { workspaceId } = request;
      const { id } = request.params;
      const window = windowOf(request.query);
      if (!(await findAutomation(app.db, workspaceId, id))) throw notFound('automation', id);
      const [enrollments, reasons, byStep, messages] = await Promise.all([
        enrollmentCounts(app.db, workspaceId, window, id),
        exitReasons(app.db, workspaceId, id, window),
        enrollmentsByStep(app.db, workspaceId, id),
        automationMessageCounts(app.db, workspaceId, id, window),
      ]);
      return toAutomationStats(id, window, {
        enrollments: enrollments[0],
        exitReasons: reasons,
        byStep,
        messagesByStep: messages.byStep,
        messagesByVariant: messages.byVariant,
      });
    },
  );

  app.get(
    '/stats',
    {
      schema: {
        tags: ['automations'],
        summary: "The workspace's statistics over all automations",
        description:
          "The same figures as an automation's statistics, summed over the workspace, with messages per channel and the enrollment figures of each automation.",
        querystring: StatsQuery,
        response: { 200: WorkspaceStats, ...v1Problems(400) },
      },
    },
    async (request) => {
      const { workspaceId } = request;
      const window = windowOf(request.query);
      const [enrollments, messagesByChannel] = await Promise.all([
        enrollmentCounts(app.db, workspaceId, window),
        workspaceMessageCounts(app.db, workspaceId, window),
      ]);
      const labels = await automationLabels(
        app.db,
        workspaceId,
        enrollments.map((e) => e.automation_id),
      );
      return toWorkspaceStats(window, { enrollments, labels, messagesByChannel });
    },
  );
};

export default statistics;
