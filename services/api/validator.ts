/**
 * The route validator: TypeBox's, except that a number in a query, path or header is written in
 * decimal digits. TypeBox converts before it checks and reads `limit=true` as 1 and `limit=1e1`
 * as 10, accepting what the OpenAPI document says is not an integer.
 */
import type { FastifySchemaCompiler } from 'fastify';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import type { TSchema } from 'typebox';

const DECIMAL: Record<string, RegExp> = { integer: /^-?\d{1,15}$/, number: /^-?\d{1,15}(\.\d{1,15})?$/ };

export const validatorCompiler: FastifySchemaCompiler<TSchema> = (route) => {
  const inner = TypeBoxValidatorCompiler(route);
  if (route.httpPart === 'body') return inner;
  const properties = ((route.schema as { properties?: Record<string, { type?: unknown }> }).properties ?? {}) as Record<string, { type?: unknown }>;
  const numeric = Object.entries(properties).flatMap(([name, s]) => (typeof s.type === 'string' && DECIMAL[s.type] ? [[name, s.type] as const] : []));
  if (numeric.length === 0) return inner;
  return (value) => {
    const input = (value ?? {}) as Record<string, unknown>;
    for (const [name, type] of numeric) {
      const given = input[name];
      if (typeof given === 'string' && !DECIMAL[type]!.test(given)) {
        const message = type === 'integer' ? 'must be an integer (decimal digits)' : 'must be a number (decimal digits)';
        return { error: [{ keyword: 'type', instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, params: { type }, message }] };
      }
    }
    return inner(value);
  };
};
