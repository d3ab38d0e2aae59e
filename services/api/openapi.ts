/**
 * Post-processing of the generated OpenAPI document. Conditions are validated as a bounded
 * unrolling of a recursive type (TypeBox compiles no self-references here); inlined like that at
 * every place a definition appears, they made the document megabytes long. The document shows
 * the same unrolling as one component per level instead: `Condition` groups hold a
 * `ConditionDepth3`, ..., whose groups hold a `ConditionDepth0` (leaves only). Finite, it states the
 * real nesting limit to clients, and tools that walk references (Schemathesis) terminate on it.
 */
import { CONDITION_MARKER, conditionShape, MAX_CONDITION_DEPTH } from '#domain/definition';

type Json = unknown;

const TOP = 'Condition';
const levelName = (depth: number) => (depth === MAX_CONDITION_DEPTH ? TOP : `ConditionDepth${depth}`);
const ref = (depth: number) => ({ $ref: `#/components/schemas/${levelName(depth)}` });

function collapseConditions(node: Json): Json {
  if (Array.isArray(node)) return node.map(collapseConditions);
  if (node === null || typeof node !== 'object') return node;
  if ((node as Record<string, unknown>)[CONDITION_MARKER]) return ref(MAX_CONDITION_DEPTH);
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, collapseConditions(v)]));
}

/** One component per level: level `depth` allows `depth` more nested groups. */
function conditionLevels(): Record<string, unknown> {
  const levels: Record<string, unknown> = {};
  for (let depth = 0; depth <= MAX_CONDITION_DEPTH; depth++) {
    levels[levelName(depth)] = {
      ...conditionShape(depth === 0 ? undefined : (ref(depth - 1) as never)),
      description:
        depth === MAX_CONDITION_DEPTH
          ? `all / any / not groups of { field, op, value } and { eventCount, op, value } leaves, nested up to ${MAX_CONDITION_DEPTH} groups deep`
          : `A condition inside groups: ${depth === 0 ? 'a leaf only' : `up to ${depth} more groups deep`}`,
    };
  }
  return levels;
}

export function compactOpenApi<T extends object>(doc: T): T {
  const out = collapseConditions(doc) as { components?: { schemas?: Record<string, unknown> } };
  out.components = { ...out.components, schemas: { ...out.components?.schemas, ...conditionLevels() } };
  return out as T;
}
