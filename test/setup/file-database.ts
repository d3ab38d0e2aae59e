/**
 * Vitest setupFiles of the `workflow` and `integration` projects: each test file gets a database of
 * its own, copied from the migrated template global-setup.ts made, and dropped after the file. Files
 * then run in parallel without meeting each other's rows, NOTIFYs, advisory locks or job locks.
 */
import { afterAll, inject } from 'vitest';
import { cloneDatabase, dropDatabase } from '#scripts/provision/postgres';
import { useFileDatabase } from '../helpers/env';

const url = await cloneDatabase(inject('followup').databaseUrl);
useFileDatabase(url);
afterAll(() => dropDatabase(url));
