/**
 * Which signals an enrollment can use, from its definition and pinned templates: the events it
 * waits for, exits on, reaches as a goal or counts, and the record fields whose changes can alter
 * what it does or renders. The router sends nothing else, so noise costs no Temporal call and
 * cannot grow a workflow's history. Pure: shared by the router and its tests.
 */
import type { Condition, AutomationDefinition, Step } from './definition';
import type { TemplateSnapshot } from './enrollment';
import { eventCountsReferenced, fieldsReferenced } from './conditions';
import { normalizeKey } from './record-changes';

export interface SignalInterest {
  events: ReadonlySet<string>;
  /** Record fields ('stage', 'ownerId', 'attributes.plan', 'attributes' for all of them), or every field. */
  fields: ReadonlySet<string> | 'all';
}

/**
 * Read by the workflow whatever the definition says: the recipient's time zone (due times), the
 * owner (tasks, owner notifications), the addresses a send goes to.
 */
const ALWAYS_READ = ['timezone', 'ownerId', 'email', 'phone'];

const LIQUID_TAG = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;
const RECORD_REF = /\brecord\b(?:\s*\.\s*([A-Za-z_][\w]*)(?:\s*\.\s*([A-Za-z_][\w-]*))?)?/g;

function stepConditions(s: Step): Condition[] {
  const own = (s as { when?: Condition }).when;
  return [...(own ? [own] : []), ...(s.type === 'wait_for' && s.where ? [s.where] : []), ...(s.type === 'branch' ? s.cases.map((c) => c.when) : [])];
}

/** Record fields a Liquid text reads; 'all' when it reads the record as a whole. */
function templateFields(text: string, into: Set<string>): 'all' | undefined {
  for (const tag of text.match(LIQUID_TAG) ?? []) {
    for (const m of tag.matchAll(RECORD_REF)) {
      const [, field, sub] = m;
      if (!field) return 'all';
      into.add(field === 'attributes' ? (sub ? `attributes.${sub}` : 'attributes') : normalizeKey(field));
    }
  }
  return undefined;
}

/** Every condition a running enrollment evaluates: `when`, wait_for `where`, branch cases, exit rules and goals. */
export function definitionConditions(def: AutomationDefinition): Condition[] {
  const conditions = def.steps.flatMap(stepConditions);
  for (const rule of def.exitWhen ?? []) {
    if ('event' in rule) {
      if (rule.where) conditions.push(rule.where);
    } else if ('goal' in rule) {
      if ('event' in rule.goal) {
        if (rule.goal.where) conditions.push(rule.goal.where);
      } else conditions.push(rule.goal.when);
    }
  }
  return conditions;
}

export function signalInterest(def: AutomationDefinition, templates: Record<string, TemplateSnapshot> = {}): SignalInterest {
  const events = new Set<string>();
  const fields = new Set<string>(ALWAYS_READ);
  for (const s of def.steps) {
    if (s.type === 'wait_for') events.add(s.event);
    for (const f of s.skipIfChanged ?? []) fields.add(normalizeKey(f));
  }
  for (const rule of def.exitWhen ?? []) {
    if ('event' in rule) events.add(rule.event);
    else if ('fieldChanged' in rule) fields.add(normalizeKey(rule.fieldChanged));
    else if ('event' in rule.goal) events.add(rule.goal.event);
  }
  const conditions = definitionConditions(def);
  for (const c of conditions) {
    for (const leaf of eventCountsReferenced(c)) events.add(leaf.event);
    for (const f of fieldsReferenced(c)) if (f.startsWith('record.')) fields.add(normalizeKey(f.slice('record.'.length)));
  }
  const texts = [
    ...Object.values(templates).flatMap((t) => Object.values(t.content ?? {})),
    ...def.steps.flatMap((s) => (s.type === 'webhook' && s.payload ? [JSON.stringify(s.payload)] : [])),
  ];
  for (const text of texts) {
    if (typeof text === 'string' && templateFields(text, fields) === 'all') return { events, fields: 'all' };
  }
  return { events, fields };
}

/** Does an event of this type concern the enrollment? */
export function wantsEvent(interest: SignalInterest, type: string): boolean {
  return interest.events.has(type);
}

/**
 * Does a change of these fields ('stage', 'ownerId', 'attributes.plan') concern the enrollment?
 * 'attributes' in the interest covers every attribute; a change of 'attributes' as a whole
 * concerns every attribute of interest.
 */
export function wantsChange(interest: SignalInterest, changed: readonly string[]): boolean {
  if (interest.fields === 'all') return changed.length > 0;
  const fields = interest.fields;
  return changed.some((raw) => {
    const c = normalizeKey(raw);
    if (fields.has(c)) return true;
    for (const f of fields) if (c.startsWith(`${f}.`) || f.startsWith(`${c}.`)) return true;
    return false;
  });
}
