import { Type, type Static } from 'typebox';
import type { UserRow } from '#db/users';
import { iso, ListOf, ListQuery, Nullable, PhoneInput, Timestamp } from './common';

export const UserId = Type.String({
  minLength: 1,
  maxLength: 100,
  pattern: '^[A-Za-z0-9_.:@-]+$',
  description: "A user id: the backend's own staff id, or generated (usr_...)",
});
export const UserParams = Type.Object({ id: UserId }, { additionalProperties: false });

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  email: Type.Optional(Nullable(Type.String({ format: 'email', maxLength: 320 }))),
  phone: Type.Optional(Nullable(PhoneInput())),
  timezone: Type.Optional(
    Nullable(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone; one the time zone database does not know is refused with 400' })),
  ),
};

export const UserCreate = Type.Object(
  { id: Type.Optional(UserId), ...fields },
  {
    additionalProperties: false,
    examples: [{ id: 'maria', name: 'Maria Ionescu', email: 'maria@agency.example', phone: '+40722000111', timezone: 'Europe/Bucharest' }],
  },
);
export type UserCreate = Static<typeof UserCreate>;

export const UserReplace = Type.Object(fields, {
  additionalProperties: false,
  description: 'Replaces every field: an optional field not sent becomes null.',
  examples: [{ name: 'Maria Ionescu', email: 'maria@agency.example' }],
});
export type UserReplace = Static<typeof UserReplace>;

export const UserView = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    email: Nullable(Type.String()),
    phone: Nullable(Type.String()),
    timezone: Nullable(Type.String()),
    createdAt: Timestamp(),
    updatedAt: Timestamp(),
  },
  {
    examples: [
      {
        id: 'maria',
        name: 'Maria Ionescu',
        email: 'maria@agency.example',
        phone: null,
        timezone: 'Europe/Bucharest',
        createdAt: '2026-11-23T10:00:00.000Z',
        updatedAt: '2026-11-23T10:00:00.000Z',
      },
    ],
  },
);
export type UserView = Static<typeof UserView>;
export const UserListQuery = ListQuery;
export const UserList = ListOf(UserView);

export function toUserView(row: UserRow): UserView {
  return {
    id: row.id,
    name: row.name,
    email: row.email,
    phone: row.phone,
    timezone: row.timezone,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}
