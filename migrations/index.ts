import type { Migration } from 'kysely';
import * as initial from './2026-11-23T00-00-00_initial';

/** Listed explicitly, in order: a migration is never discovered by reading a folder. */
export const migrations: Record<string, Migration> = {
  '2026-11-23T00-00-00_initial': initial,
};
