/**
 * Post-processing of the generated OpenAPI document. Conditions are validated as a bounded
 * unrolling of a recursive type (TypeBox compiles no self-references here); inlined like that at
 * every place a definition appears, they made the document megabytes long. The document shows
 * them as one recursive component instead.
 */
import { CONDITION_MARKER, conditionShape } from '../../domain/definition';

type Json = unknown;

const CONDITION_REF = { $ref: '#/components/schemas/Condition' };

function collapseConditions(node: Json): Json {
  if (Array.isArray(node)) return node.map(collapseConditions);
  if (node === null || typeof node !== 'object') return node;
  if ((node as Record<string, unknown>)[CONDITION_MARKER]) return CONDITION_REF;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, collapseConditions(v)]));
}

export function compactOpenApi<T extends object>(doc: T): T {
  const out = collapseConditions(doc) as { components?: { schemas?: Record<string, unknown> } };
  out.components = {
    ...out.components,
    schemas: {
      ...out.components?.schemas,
      Condition: {
        ...conditionShape(CONDITION_REF as never),
        description: 'all / any / not groups of { field, op, value } and { eventCount, op, value } leaves',
      },
    },
  };
  return out as T;
}
