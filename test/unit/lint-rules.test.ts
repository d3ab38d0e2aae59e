/**
 * The lint rules that guard the architecture (eslint.config.js) really fire: code that imports I/O
 * into domain/ or workflows/, uses a non-deterministic API in a workflow or drops a promise is
 * refused. Linted as if it were the named file, with the repository's own configuration.
 */
import { ESLint } from 'eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

/** `rule: message` of each problem found in `code` linted as `filePath`. */
async function problems(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((m) => `${m.ruleId ?? 'parse error'}: ${m.message}`);
}

// The first lint builds the TypeScript program of the project (type-aware rules): tens of seconds on a busy machine.
beforeAll(() => problems('domain/conditions.ts', ''), 180_000);

const ruleIds = async (filePath: string, code: string) => (await problems(filePath, code)).map((p) => p.split(':')[0]);

describe('import boundaries', { timeout: 60_000 }, () => {
  it.each([
    ["import { sql } from 'kysely';", 'kysely'],
    ["import { readFileSync } from 'node:fs';", 'node:fs'],
    ["import { createHash } from 'crypto';", 'crypto'],
    ["import { loadConfig } from '#platform/config';", 'platform'],
    ["import { createDb } from '#db/connection';", 'db'],
    ["import { createDb } from '../db/connection';", 'a relative path out of the room'],
    ["import pg from 'pg';", 'pg'],
    ["import { createActivities } from '#activities/index';", 'activities'],
    ["import { enrollmentWorkflow } from '#workflows/enrollment';", 'workflows'],
  ])('domain/ refuses %s', async (line) => {
    const name = /import \{ (\w+) \}|import (\w+)/.exec(line)?.slice(1).find(Boolean);
    expect(await ruleIds('domain/conditions.ts', `${line}\nexport const x = [${name}];\n`)).toEqual(['@typescript-eslint/no-restricted-imports']);
  });

  it('workflows/ may import activity types but not activity values', async () => {
    expect(await ruleIds('workflows/enrollment.ts', "import type { Activities } from '#activities/index';\nexport type A = Activities;\n")).toEqual([]);
    expect(await problems('workflows/enrollment.ts', "import { createActivities } from '#activities/index';\nexport const a = createActivities;\n")).toEqual([
      "@typescript-eslint/no-restricted-imports: '#activities/index' import is restricted from being used by a pattern. workflows/ replay deterministically: domain/ code, and activity types only.",
    ]);
  });

  it('workflows/ refuses I/O modules', async () => {
    const code = "import { createDb } from '#db/connection';\nimport { setTimeout as wait } from 'node:timers/promises';\nexport const a = [createDb, wait];\n";
    expect(await ruleIds('workflows/enrollment.ts', code)).toEqual(['@typescript-eslint/no-restricted-imports', '@typescript-eslint/no-restricted-imports']);
  });
});

describe('rooms import only the rooms below them', { timeout: 60_000 }, () => {
  it.each([
    ['db/records.ts', "import { Enroller } from '#engine/enroller';"],
    ['platform/config.ts', "import { createDb } from '#db/connection';"],
    ['providers/twilio.ts', "import { createActivities } from '#activities/index';"],
    ['activities/records.ts', "import { Enroller } from '#engine/enroller';"],
    ['engine/router.ts', "import { startEngine } from '#services/worker/worker';"],
    ['services/api/routes/records.ts', "import { createActivities } from '#activities/index';"],
    ['services/api/routes/records.ts', "import { getRecord } from '../../../db/records';"],
    ['workflows/sweep.ts', "import { sweepActivities } from '#engine/sweeper';"],
  ])('%s refuses %s', async (file, line) => {
    const name = /import \{ (\w+) \}/.exec(line)?.[1];
    expect(await ruleIds(file, `${line}\nexport const x = [${name}];\n`)).toEqual(['@typescript-eslint/no-restricted-imports']);
  });

  it.each([
    ['engine/router.ts', "import { getRecord } from '#db/records';"],
    ['activities/records.ts', "import { createDb } from '#db/connection';"],
    ['services/api/routes/records.ts', "import { HttpProblem } from '../errors';"],
  ])('%s may %s', async (file, line) => {
    const name = /import \{ (\w+) \}/.exec(line)?.[1];
    expect(await ruleIds(file, `${line}\nexport const x = [${name}];\n`)).toEqual([]);
  });

  it('workflows/ may import activity types, not even types of the engine', async () => {
    expect(await ruleIds('workflows/sweep.ts', "import type { Activities } from '#activities/index';\nexport type A = Activities;\n")).toEqual([]);
    expect(await ruleIds('workflows/sweep.ts', "import type { SweepDeps } from '#engine/sweeper';\nexport type S = SweepDeps;\n")).toEqual([
      '@typescript-eslint/no-restricted-imports',
    ]);
  });
});

describe('determinism in workflows/', { timeout: 60_000 }, () => {
  it.each([
    'setTimeout(() => {}, 10);',
    'void fetch("http://x");',
    'export const r = Math.random();',
    'export const id = crypto.randomUUID();',
    'export const env = process.env;',
    'export const t = performance.now();',
    'setInterval(() => {}, 10);',
  ])('refuses %s', async (code) => {
    const ids = await ruleIds('workflows/enrollment.ts', code);
    expect(ids.filter((id) => id === 'no-restricted-globals' || id === 'no-restricted-properties')).toHaveLength(1);
  });

  it('allows the same code outside workflows/', async () => {
    expect(await ruleIds('activities/records.ts', 'export const r = Math.random();\n')).toEqual([]);
  });
});

describe('promises', { timeout: 60_000 }, () => {
  it('a dropped promise is refused everywhere', async () => {
    expect(await ruleIds('services/api/app.ts', 'async function f(): Promise<void> {}\nf();\n')).toContain('@typescript-eslint/no-floating-promises');
  });
});

describe('unused code', { timeout: 60_000 }, () => {
  it('an unused import or variable is refused', async () => {
    expect(await ruleIds('services/api/app.ts', "import { join } from 'node:path';\nconst unused = 1;\n")).toEqual([
      '@typescript-eslint/no-unused-vars',
      '@typescript-eslint/no-unused-vars',
    ]);
  });
});
