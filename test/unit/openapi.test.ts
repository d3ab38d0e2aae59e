/**
 * The OpenAPI document: valid OpenAPI 3.1, every route documented (tags, summary, problem
 * responses, strict bodies and queries, examples), and the committed typed client
 * (test/client/schema.d.ts) identical to a fresh generation, so the document cannot drift from the
 * routes. After changing a route: `npm run gen:client`.
 */
import { readFile } from 'node:fs/promises';
import { Validator } from '@seriousme/openapi-schema-validator';
import { beforeAll, describe, expect, it } from 'vitest';
import { Value } from 'typebox/value';
import { Condition, MAX_CONDITION_DEPTH } from '#domain/definition';
import { generateClientTypes, openApiDocument, SCHEMA_FILE } from '../client/generate';

type Json = Record<string, any>;
let doc: Json;

beforeAll(async () => {
  doc = await openApiDocument();
}, 300_000);

const METHODS = ['get', 'put', 'post', 'patch', 'delete'];

function operations(): Array<{ method: string; path: string; op: Json }> {
  const out: Array<{ method: string; path: string; op: Json }> = [];
  for (const [path, item] of Object.entries(doc.paths as Json)) {
    for (const method of METHODS) if (item[method]) out.push({ method, path, op: item[method] });
  }
  return out;
}

/** Operations owned by the records/events/users/keys/webhooks/messages/tasks/admin routes. */
const MINE = /^\/(admin\/workspaces|v1\/(records|events|users|api-keys|webhook-endpoints|messages|tasks))/;

describe('OpenAPI document', () => {
  it('is valid OpenAPI 3.1', async () => {
    expect(doc.openapi).toBe('3.1.0');
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it('documents every /v1 and /admin operation with tags, a summary and problem responses', () => {
    const ops = operations().filter((o) => o.path.startsWith('/v1/') || o.path.startsWith('/admin/'));
    expect(ops.length).toBeGreaterThan(20);
    for (const { method, path, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      expect(op.tags?.length, where).toBeGreaterThan(0);
      expect(op.summary, where).toEqual(expect.any(String));
      for (const status of ['401', '429']) {
        expect(op.responses?.[status]?.content?.['application/problem+json']?.schema, `${where} ${status}`).toEqual({ $ref: '#/components/schemas/Problem' });
      }
    }
  });

  it('my operations declare strict bodies and queries, 400 problems and an example', () => {
    const ops = operations().filter((o) => MINE.test(o.path) && !o.path.endsWith('/enrollments'));
    expect(ops.length).toBe(26);
    for (const { method, path, op } of ops) {
      const where = `${method.toUpperCase()} ${path}`;
      const body = op.requestBody?.content?.['application/json']?.schema;
      if (body) {
        expect(body.additionalProperties, where).toBe(false);
        const media = op.requestBody.content['application/json'];
        expect(body.examples ?? media.examples ?? media.example, `${where} body example`).toBeDefined();
        expect(op.responses['400'], where).toBeDefined();
        expect(op.responses['415'], where).toBeDefined();
      }
      if ((op.parameters ?? []).length > 0) expect(op.responses['400'], where).toBeDefined();
      const ok = Object.entries(op.responses as Json).find(([s]) => s.startsWith('2'));
      expect(ok, where).toBeDefined();
      if (!body && ok![0] !== '204') {
        const media = ok![1].content?.['application/json'];
        const example = media?.example ?? media?.examples ?? media?.schema?.examples ?? media?.schema?.properties?.items?.items?.examples;
        expect(example, `${where} response example`).toBeDefined();
      }
    }
  });

  it('states which operations need no API key: security [] on /healthz, /readyz and /metrics; a key everywhere under /v1', () => {
    expect(doc.security).toEqual([{ apiKey: [] }]);
    for (const path of ['/healthz', '/readyz', '/metrics']) expect(doc.paths[path].get.security, path).toEqual([]);
    for (const { method, path, op } of operations().filter((o) => o.path.startsWith('/v1/'))) expect(op.security, `${method} ${path}`).toBeUndefined();
  });

  it('states conditions finitely, nested exactly as deep as the validator accepts', () => {
    const schemas = doc.components.schemas as Json;
    const refsOf = (node: unknown): string[] =>
      node === null || typeof node !== 'object' ? [] : Object.entries(node).flatMap(([k, v]) => (k === '$ref' ? [String(v).split('/').pop()!] : refsOf(v)));
    // Longest chain of component references from `name`; a cycle would never end (Schemathesis hung on one).
    const chain = (name: string, seen: string[]): number => {
      expect(seen, `${[...seen, name].join(' -> ')}`).not.toContain(name);
      return Math.max(0, ...refsOf(schemas[name]).map((next) => 1 + chain(next, [...seen, name])));
    };
    for (const name of Object.keys(schemas)) chain(name, []);
    expect(chain('Condition', [])).toBe(MAX_CONDITION_DEPTH);

    const nested = (depth: number): unknown => (depth === 0 ? { field: 'record.plan', op: 'eq', value: 'pro' } : { not: nested(depth - 1) });
    expect(Value.Check(Condition, nested(MAX_CONDITION_DEPTH))).toBe(true);
    expect(Value.Check(Condition, nested(MAX_CONDITION_DEPTH + 1))).toBe(false);
  });

  it('serves the Problem schema as a component', () => {
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object', required: expect.arrayContaining(['type', 'title', 'status']) });
  });
});

describe('typed client', () => {
  it('test/client/schema.d.ts matches a fresh generation (run `npm run gen:client` after changing a route)', async () => {
    const fresh = await generateClientTypes();
    const committed = await readFile(SCHEMA_FILE, 'utf8');
    expect(committed === fresh, 'test/client/schema.d.ts is stale: run `npm run gen:client`').toBe(true);
  }, 300_000);
});
