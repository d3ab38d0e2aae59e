import { Type, type Static } from 'typebox';
import { iso, ListOf, ListQuery, NullableTimestamp, Timestamp } from './common';

export const ApiKeyCreate = Type.Object(
  { name: Type.String({ minLength: 1, maxLength: 100, description: 'What the key is for' }) },
  { additionalProperties: false, examples: [{ name: 'crm-production' }] },
);

export const ApiKeyView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    prefix: Type.String({ description: 'The first characters of the key, to recognise it' }),
    createdAt: Timestamp(),
    revokedAt: NullableTimestamp(),
  },
  { examples: [{ id: 'key_4f9s...', name: 'crm-production', prefix: 'fu_Abc1234', createdAt: '2026-11-23T10:00:00.000Z', revokedAt: null }] },
);
export type ApiKeyView = Static<typeof ApiKeyView>;

export const ApiKeyCreated = Type.Object(
  { ...ApiKeyView.properties, key: Type.String({ description: 'The full key. Shown once: only its hash is stored.' }) },
  {
    examples: [
      { id: 'key_4f9s...', name: 'crm-production', prefix: 'fu_Abc1234', key: 'fu_Abc1234...', createdAt: '2026-11-23T10:00:00.000Z', revokedAt: null },
    ],
  },
);

export const ApiKeyListQuery = ListQuery;
export const ApiKeyList = ListOf(ApiKeyView);

export function toApiKeyView(row: { id: string; name: string; prefix: string; created_at: Date; revoked_at: Date | null }): ApiKeyView {
  return { id: row.id, name: row.name, prefix: row.prefix, createdAt: iso(row.created_at), revokedAt: iso(row.revoked_at) };
}
