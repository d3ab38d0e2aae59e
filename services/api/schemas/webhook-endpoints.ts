import { Type, type Static } from 'typebox';
import type { WebhookEndpointRow } from '#db/webhook-endpoints';
import type { AttemptRow, DeliveryRow } from '#db/notifications';
import { iso, ListOf, ListQuery, Nullable, NullableTimestamp, Timestamp } from './common';

export const WebhookEndpointCreate = Type.Object(
  {
    url: Type.String({ minLength: 8, maxLength: 2048, description: 'http:// or https:// URL that receives signed POSTs' }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 500 }))),
    events: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
        maxItems: 100,
        uniqueItems: true,
        description: 'Notification types to send; empty means all',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ url: 'https://crm.example.com/hooks/followups', description: 'CRM production', events: ['enrollment.completed'] }],
  },
);
export type WebhookEndpointCreate = Static<typeof WebhookEndpointCreate>;

export const WebhookEndpointView = Type.Object(
  {
    id: Type.String(),
    url: Type.String(),
    description: Nullable(Type.String()),
    events: Type.Array(Type.String()),
    createdAt: Timestamp(),
  },
  {
    examples: [
      { id: 'whe_...', url: 'https://crm.example.com/hooks/followups', description: 'CRM production', events: [], createdAt: '2026-11-23T10:00:00.000Z' },
    ],
  },
);
export type WebhookEndpointView = Static<typeof WebhookEndpointView>;

export const WebhookEndpointCreated = Type.Object(
  { ...WebhookEndpointView.properties, secret: Type.String({ description: 'HMAC-SHA256 signing secret. Shown once.' }) },
  {
    examples: [
      {
        id: 'whe_...',
        url: 'https://crm.example.com/hooks/followups',
        description: null,
        events: [],
        secret: 'whsec_...',
        createdAt: '2026-11-23T10:00:00.000Z',
      },
    ],
  },
);

export const WebhookEndpointList = ListOf(WebhookEndpointView);

export const SecretRotated = Type.Object(
  {
    secret: Type.String({ description: 'The new signing secret. Shown once.' }),
    previousSecretExpiresAt: Timestamp({ description: 'Until then every request carries a second v1= signature made with the previous secret' }),
  },
  { examples: [{ secret: 'whsec_...', previousSecretExpiresAt: '2026-12-01T10:00:00.000Z' }] },
);

const DeliveryAttempt = Type.Object({
  attempt: Type.Integer({ minimum: 1 }),
  at: Timestamp(),
  durationMs: Type.Integer(),
  statusCode: Nullable(Type.Integer({ description: 'null: no answer (refused address, timeout, connection error)' })),
  error: Nullable(Type.String()),
});

export const WebhookDelivery = Type.Object(
  {
    id: Type.String(),
    notificationId: Type.String({ description: "The body's `id` and X-Followup-Id: the same on every attempt" }),
    type: Type.String(),
    status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
    createdAt: Timestamp(),
    deliveredAt: NullableTimestamp(),
    nextAttemptAt: NullableTimestamp({ description: 'While pending' }),
    attempts: Type.Array(DeliveryAttempt),
  },
  {
    examples: [
      {
        id: 'whd_...',
        notificationId: 'task.created:task_...',
        type: 'task.created',
        status: 'delivered',
        createdAt: '2026-11-30T10:00:00.000Z',
        deliveredAt: '2026-11-30T10:00:31.000Z',
        nextAttemptAt: null,
        attempts: [
          { attempt: 1, at: '2026-11-30T10:00:00.100Z', durationMs: 41, statusCode: 500, error: 'answered 500' },
          { attempt: 2, at: '2026-11-30T10:00:30.200Z', durationMs: 38, statusCode: 200, error: null },
        ],
      },
    ],
  },
);
export type WebhookDelivery = Static<typeof WebhookDelivery>;
export const WebhookDeliveryList = ListOf(WebhookDelivery);

export function toWebhookDelivery(row: DeliveryRow & { attemptRows: AttemptRow[] }): WebhookDelivery {
  return {
    id: row.id,
    notificationId: row.notification_id,
    type: row.type,
    status: row.status,
    createdAt: iso(row.created_at),
    deliveredAt: iso(row.delivered_at),
    nextAttemptAt: row.status === 'pending' ? iso(row.next_attempt_at) : null,
    attempts: row.attemptRows.map((a) => ({ attempt: a.attempt, at: iso(a.started_at), durationMs: a.duration_ms, statusCode: a.status_code, error: a.error })),
  };
}
export const WebhookEndpointListQuery = ListQuery;

export function toWebhookEndpointView(row: WebhookEndpointRow): WebhookEndpointView {
  return { id: row.id, url: row.url, description: row.description, events: row.events ?? [], createdAt: iso(row.created_at) };
}
