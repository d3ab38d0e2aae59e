/**
 * The automation lifecycle in one place: which action moves which status where, and what the
 * router must do about the enrollments already running. Pure; the API applies it in one
 * transaction with the outbox rows it asks for.
 *
 *   draft ──activate──> active ──pause──> paused
 *                        ^  <──resume───  |
 *                        |                |
 *   inactive ──activate──┘  <─deactivate──┴── (from active or paused)
 *
 * - `activate` (draft or inactive -> active): `onlyNew` is fixed at the first activation (clients
 *   treat it as a property of the automation, not of one activation); with onlyNew=false every record that already matches
 *   is enrolled in bulk (a backfill), again on each re-activation.
 * - `pause` (active -> paused): no new enrollments; in-flight ones hold before their next step. A
 *   running backfill is cancelled (as by POST .../backfill/cancel); resume does not restart it.
 * - `resume` (paused -> active): in-flight ones go on. A paused automation is resumed, not
 *   activated again.
 * - `deactivate` (active or paused -> inactive): in-flight ones `finish` (a paused one is resumed
 *   so that they can) or are `cancel`led; a running backfill is cancelled.
 * - delete: only a draft or inactive automation; an active or paused one must be deactivated
 *   first, so that deleting never silently decides what happens to in-flight records.
 */
export const AUTOMATION_STATUSES = ['draft', 'active', 'paused', 'inactive'] as const;
export type AutomationStatus = (typeof AUTOMATION_STATUSES)[number];

export type LifecycleAction = 'activate' | 'pause' | 'resume' | 'deactivate';

export const TRANSITIONS: Record<LifecycleAction, { from: readonly AutomationStatus[]; to: AutomationStatus }> = {
  activate: { from: ['draft', 'inactive'], to: 'active' },
  pause: { from: ['active'], to: 'paused' },
  resume: { from: ['paused'], to: 'active' },
  deactivate: { from: ['active', 'paused'], to: 'inactive' },
};

/** Statuses an automation may be deleted in. */
export const DELETABLE: readonly AutomationStatus[] = ['draft', 'inactive'];
/** Statuses in which an automation runs or holds enrollments, so its templates are in use. */

/** What the router must do after a transition (written to the outbox in the same transaction). */
export type LifecycleEffect = { kind: 'automation_backfill' } | { kind: 'automation_lifecycle'; action: 'pause' | 'resume' | 'cancel' };

export type TransitionInput =
  { action: 'activate'; onlyNew: boolean } | { action: 'pause' } | { action: 'resume' } | { action: 'deactivate'; inFlight: 'finish' | 'cancel' };

export type TransitionResult =
  | {
      ok: true;
      to: AutomationStatus;
      effects: LifecycleEffect[];
      /** Pause and deactivate stop a running backfill for good (resume does not restart it). */
      cancelsBackfill: boolean;
    }
  | { ok: false; message: string };

const HINTS: Record<AutomationStatus, string> = {
  draft: 'activate it first',
  active: 'pause or deactivate it',
  paused: 'resume or deactivate it',
  inactive: 'activate it again',
};

/** Whether `action` is allowed from `from`, the status it leads to and its effects. */
export function transition(from: AutomationStatus, input: TransitionInput): TransitionResult {
  const rule = TRANSITIONS[input.action];
  if (!rule.from.includes(from)) {
    return {
      ok: false,
      message: `cannot ${input.action} an automation that is ${from} (${input.action} applies to ${rule.from.join(' or ')}); ${HINTS[from]}`,
    };
  }
  const effects: LifecycleEffect[] = [];
  switch (input.action) {
    case 'activate':
      if (!input.onlyNew) effects.push({ kind: 'automation_backfill' });
      break;
    case 'pause':
      effects.push({ kind: 'automation_lifecycle', action: 'pause' });
      break;
    case 'resume':
      effects.push({ kind: 'automation_lifecycle', action: 'resume' });
      break;
    case 'deactivate':
      if (input.inFlight === 'cancel') effects.push({ kind: 'automation_lifecycle', action: 'cancel' });
      else if (from === 'paused') effects.push({ kind: 'automation_lifecycle', action: 'resume' });
      break;
  }
  return { ok: true, to: rule.to, effects, cancelsBackfill: input.action === 'pause' || input.action === 'deactivate' };
}

/** Whether an automation in `status` may be deleted, and why not. */
export function deletion(status: AutomationStatus): { ok: true } | { ok: false; message: string } {
  if (DELETABLE.includes(status)) return { ok: true };
  return {
    ok: false,
    message: `cannot delete an automation that is ${status}; deactivate it first (POST /v1/automations/{id}/deactivate with inFlight finish or cancel)`,
  };
}

/**
 * `onlyNew` is recorded at the first activation and cannot change afterwards. Returns the value to
 * use, or why the request conflicts with the recorded one.
 */
export function resolveOnlyNew(
  recorded: boolean | null,
  requested: boolean | undefined,
): { ok: true; onlyNew: boolean } | { ok: false; message: string; missing?: boolean } {
  if (recorded === null) {
    if (requested === undefined)
      return {
        ok: false,
        missing: true,
        message: 'is required at the first activation: true enrolls only records that enter from now on, false also enrolls every record that already matches',
      };
    return { ok: true, onlyNew: requested };
  }
  if (requested !== undefined && requested !== recorded) {
    return { ok: false, message: `onlyNew was fixed to ${recorded} at the first activation and cannot be modified` };
  }
  return { ok: true, onlyNew: recorded };
}
