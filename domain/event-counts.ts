/**
 * What an `eventCount` leaf counts, the same everywhere (the router's triggers and entry
 * conditions, the sweeps, a running enrollment's branches, `when` and goals, the preview): the
 * record's events of that type that occurred since the start of the leaf's window (`within` before
 * the moment of evaluation, in calendar terms, UTC), the stored ones and any others the caller
 * knows of (an enrollment's signals, a preview's simulated events), each event once. Pure.
 */
import type { Condition } from './definition';
import { eventCountsReferenced } from './conditions';
import { addDuration } from './duration';

export interface CountLeaf {
  event: string;
  within?: string;
}

export interface CountedEvent {
  id: string;
  type: string;
  /** When it occurred, ms. */
  at: number;
}

/** Where a leaf's window starts when evaluated at `at` (ms); -Infinity without `within`. */
export function windowStart(at: number, within: string | undefined): number {
  return within ? addDuration(new Date(at), `-${within}`, 'UTC').getTime() : -Infinity;
}

/** The distinct leaves of some conditions, in first-seen order. */
export function countLeavesOf(conditions: readonly Condition[]): CountLeaf[] {
  const seen = new Map<string, CountLeaf>();
  for (const c of conditions) for (const leaf of eventCountsReferenced(c)) seen.set(leafKey(leaf.event, leaf.within), leaf);
  return [...seen.values()];
}

export function leafKey(event: string, within: string | undefined): string {
  return `${event}\u0000${within ?? ''}`;
}

/** Counts each leaf at `at` over the union (by id) of the lists. */
export function countLeaves(leaves: readonly CountLeaf[], at: number, ...lists: ReadonlyArray<readonly CountedEvent[]>): number[] {
  const byId = new Map<string, CountedEvent>();
  for (const list of lists) for (const e of list) if (!byId.has(e.id)) byId.set(e.id, e);
  const events = [...byId.values()];
  return leaves.map((leaf) => {
    const since = windowStart(at, leaf.within);
    return events.filter((e) => e.type === leaf.event && e.at >= since).length;
  });
}
