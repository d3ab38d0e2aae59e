/**
 * The route validator: TypeBox's, except that
 * - a number in a query, path or header is written in decimal digits, a boolean as `true` or
 *   `false`. TypeBox converts before it checks and reads `limit=true` as 1, `limit=1e1` as 10 and
 *   `matched=0` as false, accepting what the OpenAPI document says is not an integer or a boolean;
 * - no string (nor object key) of any part holds U+0000: PostgreSQL's text and jsonb cannot store
 *   it. It is refused first (400, not a failed query), with the pointer of the first such string.
 */
import type { FastifySchemaCompiler } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { TSchema } from 'typebox';

/** How a value of each JSON Schema type is written in a query, path or header, and the message when it is not. */
const WRITTEN: Record<string, { pattern: RegExp; message: string }> = {
  integer: { pattern: /^-?\d{1,15}$/, message: 'must be an integer (decimal digits)' },
  number: { pattern: /^-?\d{1,15}(\.\d{1,15})?$/, message: 'must be a number (decimal digits)' },
  boolean: { pattern: /^(true|false)$/, message: 'must be true or false' },
};

const NUL_MESSAGE = 'must not contain the NUL character (U+0000)';

/** The JSON pointer (below the part) of the first string or key holding U+0000, if any. Iterative: bodies nest deep. */
export function nulPointer(value: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return path;
    } else if (node !== null && typeof node === 'object') {
      const entries = Array.isArray(node) ? node.map((v, i) => [String(i), v] as const) : Object.entries(node);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        const childPath = `${path}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
        if (key.includes('\u0000')) return childPath;
        stack.push([child, childPath]);
      }
    }
  }
  return undefined;
}

export const validatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  const inner = withoutNul(TypeBoxValidatorCompiler(route));
  if (route.httpPart === 'body') return inner;
  const properties = ((route.schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {}) as Record<string, { type?: unknown }>;
  const typed = Object.entries(properties).flatMap(([name, s]) => (typeof s.type === 'string' && WRITTEN[s.type] ? [[name, s.type] as const] : []));
  if (typed.length === 0) return inner;
  return (value) => {
    const input = (value ?? {}) as Record<string, unknown>;
    for (const [name, type] of typed) {
      const given = input[name];
      const { pattern, message } = WRITTEN[type]!;
      if (typeof given === 'string' && !pattern.test(given)) {
        return { error: [{ keyword: 'type', instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, params: { type }, message }] };
      }
    }
    return inner(value);
  };
};

type Validate = ReturnType<FastifySchemaCompiler<TSchema>>;

function withoutNul(validate: Validate): Validate {
  return (value) => {
    const at = nulPointer(value);
    if (at === undefined) return validate(value);
    return { error: [{ keyword: 'nul', instancePath: at, schemaPath: '#', params: {}, message: NUL_MESSAGE }] };
  };
}
