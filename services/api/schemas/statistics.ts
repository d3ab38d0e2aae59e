/**
 * The statistics routes' query and answers (docs/design.md §7.4). The counts' meaning is stated once in
 * db/statistics.ts, the rates' in domain/statistics.ts; the descriptions here repeat it for readers
 * of the OpenAPI document.
 */
import { Type, type Static } from 'typebox';
import type { EnrollmentCounts, MessageCounts } from '#db/statistics';
import { rates } from '#domain/statistics';
import { Nullable, Timestamp } from './common';

/** The longest window one request may count over (the figures are aggregated on every request). */
export const MAX_WINDOW_DAYS = 400;
export const DEFAULT_WINDOW_DAYS = 30;

export const StatsQuery = Type.Object(
  {
    from: Type.Optional(
      Timestamp({
        description: `Start of the window, inclusive (default: ${DEFAULT_WINDOW_DAYS} days before \`to\`, not before 0001-01-01); before \`to\` and at most ${MAX_WINDOW_DAYS} days before it, else 400`,
      }),
    ),
    to: Type.Optional(Timestamp({ description: 'End of the window, exclusive (default: now)' })),
  },
  { additionalProperties: false },
);
export type StatsQuery = Static<typeof StatsQuery>;

const count = (description: string) => Type.Integer({ minimum: 0, description });

const MessageFigures = Type.Object(
  {
    sent: count('Taken by the provider, or sandboxed'),
    delivered: count('Reported delivered by the provider'),
    opened: count('Opened (email)'),
    clicked: count('A link was clicked (email)'),
    bounced: count('Bounced (hard or soft)'),
    unsubscribed: count('The recipient opted out after it: the unsubscribe link, an SMS STOP, the provider'),
    replied: count('An inbound SMS or email answered it'),
    failed: count('Failed, expired included'),
    suppressed: count('Not sent: the address had opted out'),
  },
  { additionalProperties: false },
);

const Rates = Type.Object(
  {
    completion: Nullable(Type.Number(), { description: 'completed / enrollments ended in the window' }),
    error: Nullable(Type.Number(), { description: 'failed / enrollments ended in the window' }),
    conversion: Nullable(Type.Number(), { description: 'converted (goal reached) / enrollments ended in the window' }),
    open: Nullable(Type.Number(), { description: 'opened / sent' }),
    click: Nullable(Type.Number(), { description: 'clicked / sent' }),
    unsubscribe: Nullable(Type.Number(), { description: 'unsubscribed / sent' }),
    reply: Nullable(Type.Number(), { description: 'replied / sent' }),
  },
  { additionalProperties: false, description: 'Fractions in [0, 1], rounded to 4 places; null when the denominator is 0' },
);

const enrollmentFigures = {
  active: count('Running now'),
  paused: count('Paused now'),
  started: count('Started in the window'),
  completed: count('Completed in the window'),
  exited: count('Exited in the window'),
  failed: count('Failed in the window'),
  converted: count('Reached their goal in the window'),
};
const EnrollmentFigures = Type.Object(enrollmentFigures, { additionalProperties: false });

export const AutomationStats = Type.Object(
  {
    automationId: Type.String(),
    from: Timestamp(),
    to: Timestamp(),
    enrollments: Type.Object(
      {
        ...enrollmentFigures,
        exitedByReason: Type.Record(Type.String(), Type.Integer({ minimum: 0 }), {
          description: 'Exits in the window per reason (`event:<type>`, `goal`, `manual`, `step:<id>`, ...)',
        }),
        byStep: Type.Record(
          Type.String(),
          Type.Object({ waiting: Type.Integer({ minimum: 0 }), paused: Type.Integer({ minimum: 0 }) }, { additionalProperties: false }),
          {
            description: 'Where the running enrollments are now, per current step',
          },
        ),
      },
      { additionalProperties: false },
    ),
    messages: Type.Object(
      {
        total: MessageFigures,
        byStep: Type.Record(Type.String(), MessageFigures, { description: 'Messages created in the window, per step' }),
        byVariant: Type.Record(Type.String(), MessageFigures, { description: 'Messages created in the window, per A/B variant letter' }),
      },
      { additionalProperties: false, description: 'Test sends are never counted' },
    ),
    rates: Rates,
  },
  { additionalProperties: false },
);
export type AutomationStats = Static<typeof AutomationStats>;

export const WorkspaceStats = Type.Object(
  {
    from: Timestamp(),
    to: Timestamp(),
    enrollments: EnrollmentFigures,
    messages: Type.Object(
      { total: MessageFigures, byChannel: Type.Record(Type.String(), MessageFigures, { description: 'email, sms, voicemail, email_user' }) },
      { additionalProperties: false, description: 'Messages of automations created in the window; test sends are never counted' },
    ),
    rates: Rates,
    automations: Type.Array(
      Type.Object({ id: Type.String(), name: Type.String(), status: Type.String(), enrollments: EnrollmentFigures }, { additionalProperties: false }),
      { description: 'Every automation with running enrollments or activity in the window' },
    ),
  },
  { additionalProperties: false },
);
export type WorkspaceStats = Static<typeof WorkspaceStats>;

const MESSAGE_KEYS = Object.keys(MessageFigures.properties) as Array<keyof MessageCounts>;
const ENROLLMENT_KEYS = Object.keys(enrollmentFigures) as Array<keyof EnrollmentCounts>;

function pick<K extends string>(row: Record<K, number>, keys: K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, row[k]])) as Record<K, number>;
}

function sum<K extends string>(rows: Array<Record<K, number>>, keys: K[]): Record<K, number> {
  return Object.fromEntries(keys.map((k) => [k, rows.reduce((total, row) => total + row[k], 0)])) as Record<K, number>;
}

/** Rows grouped by a key (step, variant, channel) as a map; a null key (a message outside any step) is `-`. */
function byKey<K extends string>(rows: Array<MessageCounts & Record<K, string | null>>, key: K): Record<string, MessageCounts> {
  return Object.fromEntries(rows.map((row) => [row[key] ?? '-', pick(row, MESSAGE_KEYS)]));
}

export function toAutomationStats(
  automationId: string,
  window: { from: Date; to: Date },
  counts: {
    enrollments: EnrollmentCounts | undefined;
    exitReasons: Array<{ reason: string | null; count: number }>;
    byStep: Array<{ step_id: string | null; waiting: number; paused: number }>;
    messagesByStep: Array<MessageCounts & { step_id: string | null }>;
    messagesByVariant: Array<MessageCounts & { variant: string | null }>;
  },
): AutomationStats {
  const enrollments = counts.enrollments ? pick(counts.enrollments, ENROLLMENT_KEYS) : sum([], ENROLLMENT_KEYS);
  const total = sum(counts.messagesByStep, MESSAGE_KEYS);
  return {
    automationId,
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    enrollments: {
      ...enrollments,
      exitedByReason: Object.fromEntries(counts.exitReasons.map((r) => [r.reason ?? 'unknown', r.count])),
      byStep: Object.fromEntries(counts.byStep.map((s) => [s.step_id ?? '-', { waiting: s.waiting, paused: s.paused }])),
    },
    messages: { total, byStep: byKey(counts.messagesByStep, 'step_id'), byVariant: byKey(counts.messagesByVariant, 'variant') },
    rates: rates(enrollments, total),
  };
}

export function toWorkspaceStats(
  window: { from: Date; to: Date },
  counts: {
    enrollments: Array<EnrollmentCounts & { automation_id: string }>;
    labels: Array<{ id: string; name: string; status: string }>;
    messagesByChannel: Array<MessageCounts & { channel: string | null }>;
  },
): WorkspaceStats {
  const enrollments = sum(counts.enrollments, ENROLLMENT_KEYS);
  const total = sum(counts.messagesByChannel, MESSAGE_KEYS);
  const labels = new Map(counts.labels.map((l) => [l.id, l]));
  return {
    from: window.from.toISOString(),
    to: window.to.toISOString(),
    enrollments,
    messages: { total, byChannel: byKey(counts.messagesByChannel, 'channel') },
    rates: rates(enrollments, total),
    automations: counts.enrollments.map((row) => ({
      id: row.automation_id,
      name: labels.get(row.automation_id)?.name ?? '',
      status: labels.get(row.automation_id)?.status ?? 'deleted',
      enrollments: pick(row, ENROLLMENT_KEYS),
    })),
  };
}
