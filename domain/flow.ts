/**
 * How control moves between steps. Kept free of the TypeBox schema (types only) so the workflow
 * bundle does not build the definition schema in every workflow context.
 */
import type { Step } from './definition';

export const END = 'end';

/** Where a step goes when nothing redirects it: its `next`, else the following step, else the end. */
export function defaultNext(steps: readonly Step[], index: number): string {
  return steps[index]!.next ?? steps[index + 1]?.id ?? END;
}
