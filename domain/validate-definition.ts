/**
 * Validates an automation definition: first its shape (the TypeBox schema), then what a schema
 * cannot say (the flow of steps, templates that exist and fit the channel, durations, local times,
 * time zones, operators that fit their values, users and webhook endpoints of the workspace).
 * Every problem comes back at once with the JSON pointer of the offending place. Pure: the caller
 * hands in what the workspace has.
 *
 * The fallthrough rule (`defaultNext`) lives beside the schema in definition.ts, so the workflow
 * and the preview walk exactly the graph that was validated.
 */
import { IANAZone } from 'luxon';
import { Type } from 'typebox';
import { Value } from 'typebox/value';
import {
  AutomationDefinition,
  defaultNext,
  END,
  stepTargets,
  type Condition,
  type ExitRule,
  type QuietHours,
  type Recipient,
  type Settings,
  type StaffRecipient,
  type Step,
  type StepType,
  type Trigger,
} from './definition';
import { conditionLeaves, MAX_CONDITION_LEAVES, MAX_CONDITION_VALUES, OP_VALUE_EXPECTATION, opFitsValue } from './conditions';
import { isPositiveDuration, parseDuration, type ParsedDuration } from './duration';
import { bagProblem, RESERVED_KEYS, reservedKeyProblem, WEBHOOK_PAYLOAD_LIMITS } from './json-limits';
import { normalizeKey } from './record-changes';
import type { TemplateChannel } from './templates';
import { quietHoursFor, stepChannel, windowMeetsQuietHours } from './timing';

export interface Problem {
  /** JSON pointer into the definition, e.g. `/steps/3/next`. */
  pointer: string;
  message: string;
}

export type { TemplateChannel };

export interface DefinitionContext {
  templates: ReadonlyMap<string, { channel: TemplateChannel }>;
  /** When given, user ids in recipients and notifications must be among them. */
  users?: ReadonlySet<string>;
  /** When given, webhook steps must name one of them. */
  webhookEndpoints?: ReadonlySet<string>;
  /** When given, a message step's `from` must name one of them, of the step's channel. */
  senders?: ReadonlyMap<string, { channel: 'email' | 'sms' | 'voicemail' }>;
}

export type ValidationResult = { ok: true; definition: AutomationDefinition } | { ok: false; problems: Problem[] };

/**
 * Semantic checks read a well-formed definition, so they run once the shape is right; the shape's
 * problems are all reported together first.
 */
export function validateDefinition(input: unknown, ctx: DefinitionContext): ValidationResult {
  const shape = schemaProblems(AutomationDefinition as JsonSchema, input, '');
  if (shape.length > 0) return { ok: false, problems: shape };
  const definition = input as AutomationDefinition;
  const problems = semanticProblems(definition, ctx);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, definition };
}

// ---------------------------------------------------------------------------------------------
// Flow

/** Where a step goes when it takes no jump: its `next`, else the following step, else the end. */
/**
 * Whether a step can go on to its default next: not after an exit, a branch with `otherwise`, or a
 * `wait_for` that names both outcomes.
 */
function goesToDefault(step: Step): boolean {
  if (step.type === 'exit') return false;
  if (step.type === 'branch') return !step.otherwise;
  if (step.type === 'wait_for') return !(step.onEvent && step.onTimeout);
  return true;
}

interface Edge {
  target: string;
  /** Pointer suffix of the field naming the target; undefined when the step just falls through. */
  at?: string;
}

function edges(steps: readonly Step[], index: number): Edge[] {
  const step = steps[index]!;
  const jumps: Edge[] = stepTargets(step).filter((t) => t.at !== 'next');
  if (!goesToDefault(step)) return jumps;
  return [...jumps, step.next ? { target: step.next, at: 'next' } : { target: defaultNext(steps, index) }];
}

/** Every step id (or `end`) a step can go on to. */
export function successors(steps: readonly Step[], index: number): string[] {
  return edges(steps, index).map((e) => e.target);
}

/** A step that makes time pass, so a loop through it cannot spin. */
function waits(step: Step): boolean {
  return step.type === 'wait' || step.type === 'wait_for' || step.delay !== undefined;
}

function flowProblems(steps: readonly Step[]): Problem[] {
  const graph = new FlowGraph(steps);
  return [...idProblems(steps), ...targetProblems(steps, graph), ...unreachableProblems(steps, graph), ...waitlessLoopProblems(steps, graph)];
}

/** The steps as a graph of indices; targets naming no step are left out (reported elsewhere). */
class FlowGraph {
  private readonly indexOf = new Map<string, number>();

  constructor(private readonly steps: readonly Step[]) {
    // With duplicate ids the first one counts; the duplicates are reported.
    steps.forEach((s, i) => {
      if (!this.indexOf.has(s.id)) this.indexOf.set(s.id, i);
    });
  }

  has(id: string): boolean {
    return this.indexOf.has(id);
  }

  /** The edges of step `i` to steps allowed by `only`, with the index each leads to. */
  edgesFrom(i: number, only: (j: number) => boolean = () => true): Array<Edge & { index: number }> {
    return edges(this.steps, i).flatMap((e) => {
      const j = this.indexOf.get(e.target);
      return j !== undefined && only(j) ? [{ ...e, index: j }] : [];
    });
  }

  /** The steps reachable from `start` through steps allowed by `only`, `start` included. */
  reachableFrom(start: number, only?: (j: number) => boolean): Set<number> {
    const seen = new Set([start]);
    for (const i of seen) for (const e of this.edgesFrom(i, only)) seen.add(e.index);
    return seen;
  }
}

function idProblems(steps: readonly Step[]): Problem[] {
  const firstIndex = new Map<string, number>();
  return steps.flatMap((s, i): Problem[] => {
    if (s.id === END) return [{ pointer: `/steps/${i}/id`, message: `"${END}" is reserved for the end of the sequence` }];
    const first = firstIndex.get(s.id);
    if (first !== undefined) return [{ pointer: `/steps/${i}/id`, message: `duplicates the id of step ${first}` }];
    firstIndex.set(s.id, i);
    return [];
  });
}

function targetProblems(steps: readonly Step[], graph: FlowGraph): Problem[] {
  return steps.flatMap((s, i) => [
    ...stepTargets(s)
      .filter((t) => t.target !== END && !graph.has(t.target))
      .map((t) => ({ pointer: `/steps/${i}/${t.at}`, message: `no step has the id "${t.target}"` })),
    ...(s.next && !goesToDefault(s) ? [{ pointer: `/steps/${i}/next`, message: `is never followed: this ${s.type} step always goes elsewhere` }] : []),
  ]);
}

function unreachableProblems(steps: readonly Step[], graph: FlowGraph): Problem[] {
  const reached = graph.reachableFrom(0);
  return steps.flatMap((_, i) => (reached.has(i) ? [] : [{ pointer: `/steps/${i}`, message: 'is never reached from the first step' }]));
}

/**
 * Every loop jumps back at least once (falling through only moves forward), so a loop that never
 * waits is a backward jump to a step that leads back to the jump without waiting.
 */
function waitlessLoopProblems(steps: readonly Step[], graph: FlowGraph): Problem[] {
  const spins = (j: number) => !waits(steps[j]!);
  return steps.flatMap((_, i) =>
    !spins(i)
      ? []
      : graph
          .edgesFrom(i, spins)
          .filter((e) => e.at !== undefined && e.index <= i && graph.reachableFrom(e.index, spins).has(i))
          .map((e) => ({
            pointer: `/steps/${i}/${e.at}`,
            message: `loops back to "${e.target}" without a wait: add a wait, a wait_for or a delay to a step of the loop`,
          })),
  );
}

// ---------------------------------------------------------------------------------------------
// Semantic checks

function semanticProblems(def: AutomationDefinition, ctx: DefinitionContext): Problem[] {
  const stepIds = new Set(def.steps.map((s) => s.id));
  return [
    ...triggerProblems(def.trigger, stepIds),
    ...(def.conditions ? conditionProblems(def.conditions, '/conditions', stepIds) : []),
    ...(def.exitWhen ?? []).flatMap((rule, i) => exitRuleProblems(rule, `/exitWhen/${i}`, ctx, stepIds)),
    ...settingsProblems(def.settings),
    ...flowProblems(def.steps),
    ...def.steps.flatMap((step, i) => stepProblems(step, `/steps/${i}`, def.settings, ctx, stepIds)),
  ];
}

function exitRuleProblems(rule: ExitRule, at: string, ctx: DefinitionContext, stepIds: ReadonlySet<string>): Problem[] {
  const problems = rule.notify && typeof rule.notify === 'object' ? userProblems(rule.notify.user, `${at}/notify/user`, ctx) : [];
  if ('event' in rule && rule.where) problems.push(...conditionProblems(rule.where, `${at}/where`, stepIds));
  if ('goal' in rule) {
    if ('when' in rule.goal) problems.push(...conditionProblems(rule.goal.when, `${at}/goal/when`, stepIds));
    else if (rule.goal.where) problems.push(...conditionProblems(rule.goal.where, `${at}/goal/where`, stepIds));
  }
  return problems;
}

function triggerProblems(trigger: Trigger, stepIds: ReadonlySet<string>): Problem[] {
  switch (trigger.type) {
    case 'event':
      return trigger.where ? conditionProblems(trigger.where, '/trigger/where', stepIds) : [];
    case 'segment_entered':
      return conditionProblems(trigger.filter, '/trigger/filter', stepIds);
    case 'date':
      return durationProblems(trigger.offset, '/trigger/offset', { signed: true });
    case 'inactivity':
      return durationProblems(trigger.after, '/trigger/after');
    default:
      return [];
  }
}

function settingsProblems(settings: Settings | undefined): Problem[] {
  const problems: Problem[] = [];
  if (settings?.timezone && settings.timezone !== 'record') problems.push(...timeZoneProblems(settings.timezone, '/settings/timezone'));
  const quiet = settings?.quietHours;
  if (quiet && quiet.start === quiet.end) problems.push({ pointer: '/settings/quietHours/end', message: 'must differ from start' });
  return problems;
}

const TEMPLATE_CHANNEL: Partial<Record<StepType, TemplateChannel>> = { email: 'email', sms: 'sms', voicemail: 'voicemail', task: 'task', email_user: 'email' };

function stepProblems(step: Step, at: string, settings: Settings | undefined, ctx: DefinitionContext, stepIds: ReadonlySet<string>): Problem[] {
  const problems: Problem[] = [];
  if (step.delay !== undefined) problems.push(...durationProblems(step.delay, `${at}/delay`));
  if (step.when) problems.push(...conditionProblems(step.when, `${at}/when`, stepIds));
  problems.push(...windowProblems(step, at, quietHoursFor(step, settings)));

  const channel = TEMPLATE_CHANNEL[step.type];
  if (channel && 'template' in step && step.template !== undefined) problems.push(...templateProblems(step.template, channel, `${at}/template`, ctx));
  if (channel && channel !== 'task' && 'from' in step && step.from !== undefined && ctx.senders) {
    const sender = ctx.senders.get(step.from);
    if (!sender) problems.push({ pointer: `${at}/from`, message: `no sender has the id "${step.from}" (POST /v1/senders)` });
    else if (sender.channel !== channel)
      problems.push({ pointer: `${at}/from`, message: `sender "${step.from}" is for ${sender.channel}; this step needs one for ${channel}` });
  }

  switch (step.type) {
    case 'wait':
      problems.push(...durationProblems(step.duration, `${at}/duration`));
      break;
    case 'email':
      if (step.template !== undefined && step.variants) problems.push({ pointer: `${at}/variants`, message: 'use either template or variants, not both' });
      if (step.template === undefined && !step.variants) problems.push({ pointer: `${at}/template`, message: 'is required (or variants for an A/B test)' });
      step.variants?.forEach((v, j) => problems.push(...templateProblems(v.template, 'email', `${at}/variants/${j}/template`, ctx)));
      problems.push(...recipientProblems(step.to, `${at}/to`, 'email', ctx));
      break;
    case 'sms':
    case 'voicemail':
      problems.push(...recipientProblems(step.to, `${at}/to`, 'phone', ctx));
      break;
    case 'task':
      if (step.due !== undefined) problems.push(...durationProblems(step.due, `${at}/due`));
      problems.push(...recipientProblems(step.assignee, `${at}/assignee`, 'email', ctx));
      break;
    case 'email_user':
      problems.push(...recipientProblems(step.to, `${at}/to`, 'email', ctx));
      break;
    case 'update_record':
      problems.push(...updateRecordProblems(step.set, `${at}/set`, ctx));
      break;
    case 'webhook':
      if (step.payload) {
        // Its reserved keys too (bagProblem checks them at every depth it allows).
        const problem = bagProblem(step.payload, `${at}/payload`, WEBHOOK_PAYLOAD_LIMITS);
        if (problem) problems.push({ pointer: problem.pointer, message: problem.message });
      }
      if (ctx.webhookEndpoints && !ctx.webhookEndpoints.has(step.endpoint)) {
        problems.push({ pointer: `${at}/endpoint`, message: `no webhook endpoint has the id "${step.endpoint}"` });
      }
      break;
    case 'wait_for':
      problems.push(...durationProblems(step.timeout, `${at}/timeout`));
      if (step.where) problems.push(...conditionProblems(step.where, `${at}/where`, stepIds));
      break;
    case 'branch':
      step.cases.forEach((c, j) => problems.push(...conditionProblems(c.when, `${at}/cases/${j}/when`, stepIds)));
      break;
  }
  return problems;
}

/** Keys `__proto__`, `constructor` and `prototype` are refused wherever the author chooses a key (json-limits.ts). */
function reservedKeyProblems(value: unknown, pointer: string): Problem[] {
  const problem = reservedKeyProblem(value, pointer);
  return problem ? [{ pointer: problem.pointer, message: problem.message }] : [];
}

const ATTRIBUTE_KEY = 'attributes.';
const EMAIL = Type.String({ format: 'email', maxLength: 320 });
const E164 = /^\+[1-9][0-9]{6,14}$/;
const text = (value: unknown, max: number) => typeof value === 'string' && value.length >= 1 && value.length <= max;

/**
 * A record field set by update_record must take a value the record could hold, checked at save
 * rather than failing (or storing nonsense) when a record reaches the step. Null clears a field.
 */
function updateRecordProblems(set: Record<string, unknown>, at: string, ctx: DefinitionContext): Problem[] {
  return Object.entries(set).flatMap(([key, value]) => {
    const pointer = `${at}/${escapePointer(key)}`;
    if (key.startsWith(ATTRIBUTE_KEY)) {
      const attribute = key.slice(ATTRIBUTE_KEY.length);
      if (RESERVED_KEYS.has(attribute)) return [{ pointer, message: `"${attribute}" is a reserved key` }];
      return reservedKeyProblems(value, pointer);
    }
    if (value === null) return [];
    const field = normalizeKey(key);
    switch (field) {
      case 'email':
        return Value.Check(EMAIL, value) ? [] : [{ pointer, message: 'must be an email address (or null to clear it)' }];
      case 'phone':
        return typeof value === 'string' && E164.test(value)
          ? []
          : [{ pointer, message: 'must be an E.164 phone number, e.g. +14155550100 (or null to clear it)' }];
      case 'timezone':
        return typeof value === 'string' ? timeZoneProblems(value, pointer) : [{ pointer, message: 'must be an IANA time zone (or null to clear it)' }];
      case 'ownerId':
        return text(value, 200)
          ? userProblems(value as string, pointer, ctx)
          : [{ pointer, message: 'must be the id of a user of the workspace (or null to clear it)' }];
      case 'stage':
        return text(value, 100) ? [] : [{ pointer, message: 'must be a non-empty string of at most 100 characters (or null to clear it)' }];
      default: // name, which may be empty as on the records API
        return typeof value === 'string' && value.length <= 200
          ? []
          : [{ pointer, message: 'must be a string of at most 200 characters (or null to clear it)' }];
    }
  });
}

function templateProblems(id: string, channel: TemplateChannel, pointer: string, ctx: DefinitionContext): Problem[] {
  const template = ctx.templates.get(id);
  if (!template) return [{ pointer, message: `no template has the id "${id}"` }];
  if (template.channel !== channel) return [{ pointer, message: `template "${id}" is for ${template.channel}; this step needs one for ${channel}` }];
  return [];
}

/** A recipient must be reachable on the step's channel, and a named user must exist. */
function recipientProblems(to: Recipient | StaffRecipient | undefined, pointer: string, address: 'email' | 'phone', ctx: DefinitionContext): Problem[] {
  if (!to || typeof to === 'string') return [];
  if ('user' in to) return userProblems(to.user, `${pointer}/user`, ctx);
  if (address === 'email' && 'phone' in to) return [{ pointer: `${pointer}/phone`, message: 'this step sends email: give an email address' }];
  if (address === 'phone' && 'email' in to) return [{ pointer: `${pointer}/email`, message: 'this step calls or texts: give a phone number' }];
  return [];
}

function userProblems(userId: string, pointer: string, ctx: DefinitionContext): Problem[] {
  return ctx.users && !ctx.users.has(userId) ? [{ pointer, message: `no user has the id "${userId}"` }] : [];
}

function durationProblems(iso: string, pointer: string, { signed = false } = {}): Problem[] {
  const parsed = parseDuration(iso);
  if (!parsed) return [{ pointer, message: `is not an ISO-8601 duration${signed ? ' (e.g. P3D, or -P7D for before)' : ' (e.g. PT2H, P3D, P1DT12H)'}` }];
  if (!signed && !isPositiveDuration(parsed)) return [{ pointer, message: 'must be longer than zero' }];
  if (approximateDays(parsed) > MAX_DURATION_DAYS) return [{ pointer, message: `must be at most ${MAX_DURATION} (about ${MAX_DURATION_DAYS} days)` }];
  return [];
}

/**
 * The longest duration a definition may hold. Far longer ones (P999999999Y) overflow dates and give
 * NaN timers; ten years is beyond any follow-up and well inside Temporal's timer range.
 */
const MAX_DURATION = 'P10Y';
const MAX_DURATION_DAYS = 3653;

/** Length in days with a year of 365.25 days and a month of 30.44: only to compare with the limit. */
function approximateDays(d: ParsedDuration): number {
  const { years, months, weeks, days } = d.calendar;
  return years * 365.25 + months * 30.44 + weeks * 7 + days + d.clockMillis / 86_400_000;
}

function timeZoneProblems(zone: string, pointer: string): Problem[] {
  return IANAZone.isValidZone(zone) ? [] : [{ pointer, message: `"${zone}" is not an IANA time zone (e.g. Europe/Bucharest)` }];
}

/** `quiet`: the quiet hours that hold this step back, if any. */
function windowProblems(step: Step, at: string, quiet: QuietHours | undefined): Problem[] {
  const window = step.window;
  if (!window) return [];
  const problems: Problem[] = [];
  if (window.from !== undefined && window.from === window.to) {
    problems.push({ pointer: `${at}/window/to`, message: 'must differ from `from` (leave both out for the whole day)' });
  }
  if (window.timezone !== undefined) problems.push(...timeZoneProblems(window.timezone, `${at}/window/timezone`));
  // A window in its own zone may meet the quiet hours on some recipients' clocks and not others'.
  if (quiet && window.timezone === undefined && problems.length === 0 && !windowMeetsQuietHours(window, quiet)) {
    problems.push({
      pointer: `${at}/window`,
      message: `only opens during the quiet hours (${quiet.start}-${quiet.end}): this ${stepChannel(step)} would never be sent`,
    });
  }
  return problems;
}

function conditionProblems(cond: Condition, at: string, stepIds: ReadonlySet<string>): Problem[] {
  const leaves = conditionLeaves(cond, at);
  if (leaves.length > MAX_CONDITION_LEAVES) {
    return [{ pointer: at, message: `a condition may hold at most ${MAX_CONDITION_LEAVES} comparisons (this one holds ${leaves.length})` }];
  }
  const listed = leaves.reduce((n, { leaf }) => n + ('field' in leaf && Array.isArray(leaf.value) ? leaf.value.length : 0), 0);
  if (listed > MAX_CONDITION_VALUES) {
    return [{ pointer: at, message: `a condition may list at most ${MAX_CONDITION_VALUES} values in all its in/nin lists (this one lists ${listed})` }];
  }
  return leaves.flatMap(({ leaf, pointer }) => {
    if ('eventCount' in leaf) return leaf.eventCount.within !== undefined ? durationProblems(leaf.eventCount.within, `${pointer}/eventCount/within`) : [];
    const problems: Problem[] = [];
    if (!opFitsValue(leaf.op, leaf.value)) problems.push({ pointer: `${pointer}/value`, message: `${leaf.op} needs ${OP_VALUE_EXPECTATION[leaf.op]}` });
    // Values are scalars or lists of them (opFitsValue); the path is where a key is chosen.
    const [root, stepId, ...rest] = leaf.field.split('.');
    const reserved = [stepId!, ...rest].find((segment) => RESERVED_KEYS.has(segment));
    if (reserved) problems.push({ pointer: `${pointer}/field`, message: `"${reserved}" is a reserved key` });
    if (root === 'steps' && !stepIds.has(stepId!)) problems.push({ pointer: `${pointer}/field`, message: `no step has the id "${stepId}"` });
    return problems;
  });
}

// ---------------------------------------------------------------------------------------------
// Schema problems
//
// TypeBox reports a failed union as the errors of every branch. This walks the schema alongside
// the value instead: objects and arrays field by field, and a union through the one branch the
// value meant (by its `type`, or by the fields it has), so each problem is reported once, where
// it is, in words that fit it.

interface JsonSchema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  pattern?: string;
  description?: string;
}

function schemaProblems(schema: JsonSchema, value: unknown, pointer: string): Problem[] {
  if (Value.Check(schema, value)) return [];
  if (schema.anyOf) return unionProblems(schema.anyOf, value, pointer);
  if (schema.type === 'object' && isPlainObject(value)) return objectProblems(schema, value, pointer);
  if (schema.type === 'array' && Array.isArray(value)) return arrayProblems(schema, value, pointer);
  return ownProblems(schema, value, pointer);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The keywords of a schema about the value itself, without those about its fields or items. */
function ownKeywords(schema: JsonSchema): JsonSchema {
  const { properties, patternProperties, additionalProperties, required, items, anyOf, ...own } = schema;
  return own;
}

function ownProblems(schema: JsonSchema, value: unknown, pointer: string): Problem[] {
  const messages = Value.Errors(ownKeywords(schema), value).map((e) => {
    if (e.keyword === 'type') return `must be ${describe(schema)}`;
    if (e.keyword === 'const' || e.keyword === 'enum') return `must be ${describe(schema)}`;
    if (e.keyword === 'pattern') return `must match ${schema.pattern}${schema.description ? ` (${schema.description})` : ''}`;
    return e.message;
  });
  return [...new Set(messages)].map((message) => ({ pointer, message }));
}

function objectProblems(schema: JsonSchema, value: Record<string, unknown>, pointer: string): Problem[] {
  const problems = ownProblems(schema, value, pointer);
  for (const key of schema.required ?? []) {
    if (!Object.hasOwn(value, key)) problems.push({ pointer: `${pointer}/${escapePointer(key)}`, message: 'is required' });
  }
  for (const [key, child] of Object.entries(value)) {
    const at = `${pointer}/${escapePointer(key)}`;
    const fieldSchema =
      schema.properties?.[key] ??
      Object.entries(schema.patternProperties ?? {}).find(([pattern]) => new RegExp(pattern).test(key))?.[1] ??
      (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (fieldSchema) problems.push(...schemaProblems(fieldSchema, child, at));
    else if (schema.additionalProperties === false) problems.push({ pointer: at, message: `is not a known field${knownFields(schema)}` });
  }
  return problems;
}

function knownFields(schema: JsonSchema): string {
  const names = Object.keys(schema.properties ?? {});
  return names.length > 0 ? `; expected ${names.join(', ')}` : '';
}

function arrayProblems(schema: JsonSchema, value: unknown[], pointer: string): Problem[] {
  return [...ownProblems(schema, value, pointer), ...value.flatMap((item, i) => (schema.items ? schemaProblems(schema.items, item, `${pointer}/${i}`) : []))];
}

function unionProblems(branches: JsonSchema[], value: unknown, pointer: string): Problem[] {
  const objects = branches.filter((b) => b.type === 'object');
  if (isPlainObject(value) && objects.length > 0) {
    const discriminator = Object.keys(objects[0]!.properties ?? {}).find((key) => objects.every((b) => b.properties?.[key]?.const !== undefined));
    if (discriminator) {
      const allowed = objects.map((b) => b.properties![discriminator]!.const);
      const chosen = objects.find((b) => b.properties![discriminator]!.const === value[discriminator]);
      if (chosen) return schemaProblems(chosen, value, pointer);
      const message = `must be one of: ${allowed.join(', ')}`;
      return [{ pointer: `${pointer}/${escapePointer(discriminator)}`, message: Object.hasOwn(value, discriminator) ? message : `is required and ${message}` }];
    }
    const overlap = (b: JsonSchema) => Object.keys(value).filter((k) => Object.hasOwn(b.properties ?? {}, k)).length;
    const best = Math.max(...objects.map(overlap));
    if (best > 0) {
      const candidates = objects.filter((b) => overlap(b) === best).map((b) => schemaProblems(b, value, pointer));
      return candidates.reduce((fewest, p) => (p.length < fewest.length ? p : fewest));
    }
  }
  // A list or a value of the one non-literal branch of its kind (`days: [...]`) is checked there.
  const sameKind = branches.filter((b) => b.const === undefined && b.enum === undefined && b.anyOf === undefined && b.type === jsonType(value));
  if (sameKind.length === 1) return schemaProblems(sameKind[0]!, value, pointer);
  const literals = branches.every((b) => b.const !== undefined);
  return [{ pointer, message: literals ? `must be one of ${branches.map(describe).join(', ')}` : `must be ${branches.map(describe).join(' or ')}` }];
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  return v === null ? 'null' : typeof v;
}

function describe(schema: JsonSchema): string {
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  if (schema.anyOf) return schema.anyOf.map(describe).join(' or ');
  if (schema.type === 'object') return `an object with ${(schema.required ?? Object.keys(schema.properties ?? {})).join(', ') || 'fields'}`;
  if (schema.type === 'array') return 'a list';
  return schema.type === 'integer' ? 'an integer' : `a ${schema.type ?? 'value'}`;
}
