/**
 * Message templates: the content schema of each channel, the Liquid checks run when a template is
 * saved (syntax errors with their line, unknown variables as warnings, SMS segments), and the
 * sandboxed engine that renders them.
 *
 * Pure (no I/O): liquidjs parses and renders in memory; the engine is built with an empty
 * in-memory template map, so `include`/`render`/`layout` can never reach the file system (they
 * are refused at parse time anyway). Workflows never render: they pass template snapshots to
 * activities, which do. Do not import this module from workflow code (liquidjs is not
 * deterministic-sandbox friendly).
 */
import { Liquid, Tag, type TagToken, type TopLevelToken } from 'liquidjs';
import { Type, type Static } from 'typebox';
import type { AutomationDefinition } from './definition';
import { countSegments } from './sms-segments';

export const TEMPLATE_CHANNELS = ['email', 'sms', 'voicemail', 'task'] as const;
export type TemplateChannel = (typeof TEMPLATE_CHANNELS)[number];

const liquidText = (description: string, maxLength: number, minLength = 0) =>
  Type.String({ minLength, maxLength, description: `${description} (Liquid, e.g. {{ record.name }})` });

export const EmailContent = Type.Object(
  {
    subject: liquidText('Subject line', 998, 1),
    html: Type.Optional(liquidText('HTML body; {{ }} output is HTML-escaped, `| raw` (last filter) writes a trusted value as it is', 500_000)),
    text: Type.Optional(liquidText('Plain-text body', 500_000)),
  },
  { additionalProperties: false, description: 'Email: a subject and an html and/or text body', title: 'EmailContent' },
);
export const SmsContent = Type.Object(
  { body: liquidText('Message text', 1600, 1) },
  { additionalProperties: false, description: 'SMS: the message body', title: 'SmsContent' },
);
export const VoicemailContent = Type.Object(
  {
    audioUrl: Type.Optional(Type.String({ pattern: '^https?://\\S+$', maxLength: 2000, description: 'A recording to drop (played as is)' })),
    text: Type.Optional(liquidText('Text spoken by text-to-speech', 3000)),
  },
  { additionalProperties: false, description: 'Voicemail drop: exactly one of audioUrl or text', title: 'VoicemailContent' },
);
export const TaskContent = Type.Object(
  {
    title: liquidText('Task title', 500, 1),
    body: Type.Optional(liquidText('Task description', 20_000)),
  },
  { additionalProperties: false, description: 'Task for staff: a title and an optional body', title: 'TaskContent' },
);

export type EmailContent = Static<typeof EmailContent>;
export type SmsContent = Static<typeof SmsContent>;
export type VoicemailContent = Static<typeof VoicemailContent>;
export type TaskContent = Static<typeof TaskContent>;

export const CONTENT_SCHEMAS = {
  email: EmailContent,
  sms: SmsContent,
  voicemail: VoicemailContent,
  task: TaskContent,
} as const;

/** The Liquid fields of each channel's content, in the order they are checked. */
export const LIQUID_FIELDS: Record<TemplateChannel, readonly string[]> = {
  email: ['subject', 'html', 'text'],
  sms: ['body'],
  voicemail: ['text'],
  task: ['title', 'body'],
};

/** A variable whose sub-fields are free-form (record attributes, event properties). */
const OPEN = 'open' as const;

/**
 * The variables a template may read, one list for the save-time check (anything else is a
 * warning) and for the scope every render builds (`templateScope` copies exactly these fields):
 * what the check accepts is what a send has. `event` is the trigger event, or the event that ended
 * a `wait_for`, read as conditions read it: its properties (`event.rating`) beside its own `id`,
 * `type`, `occurredAt` and `properties`.
 */
export const TEMPLATE_VARIABLES = {
  record: { externalId: 1, name: 1, email: 1, phone: 1, stage: 1, timezone: 1, ownerId: 1, attributes: OPEN },
  event: OPEN,
  owner: { id: 1, name: 1, email: 1, phone: 1, timezone: 1 },
  workspace: { id: 1, name: 1, timezone: 1 },
  enrollment: { id: 1, automationId: 1, version: 1, variant: 1 },
  sender: { id: 1, from: 1, name: 1, replyTo: 1 },
  unsubscribeUrl: 'string',
} as const;

type Root = keyof typeof TEMPLATE_VARIABLES;
const ROOTS = Object.keys(TEMPLATE_VARIABLES) as Root[];
const fieldsOf = (root: Root): string[] => {
  const spec = TEMPLATE_VARIABLES[root];
  return typeof spec === 'object' ? Object.keys(spec) : [];
};

/** Tags that would reach outside the template (other files). */
const REFUSED_TAGS = ['include', 'render', 'layout'] as const;

function refusedTag(name: string) {
  return class extends Tag {
    constructor(token: TagToken, remainTokens: TopLevelToken[], liquid: Liquid) {
      super(token, remainTokens, liquid);
      throw new Error(`the ${name} tag is not available in templates`);
    }
    *render(): Generator<unknown, void, unknown> {
      /* never reached: refused at parse time */
    }
  };
}

/**
 * The sandboxed engine: own properties only (no prototype walking), unknown filters are errors,
 * no file system, bounded parse/render work and memory. `html`: every `{{ }}` output is
 * HTML-escaped unless its last filter is `raw` (for trusted fields), so a record's `<script>`
 * arrives as text in an html body and unchanged in the text body, SMS and subject.
 */
export function createTemplateEngine(opts: { html?: boolean } = {}): Liquid {
  const engine = new Liquid({
    ownPropertyOnly: true,
    strictFilters: true,
    strictVariables: false,
    templates: {},
    relativeReference: false,
    dynamicPartials: false,
    cache: false,
    parseLimit: 1_000_000,
    // Milliseconds of rendering: a loop without end stops here instead of holding the worker.
    renderLimit: 200,
    memoryLimit: 10_000_000,
    ...(opts.html ? { outputEscape: 'escape' as const } : {}),
  });
  for (const tag of REFUSED_TAGS) engine.registerTag(tag, refusedTag(tag));
  return engine;
}

const engine = createTemplateEngine();
const htmlEngine = createTemplateEngine({ html: true });

/** The content fields that are HTML (escaped output); every other Liquid field is plain text. */
const HTML_FIELDS: ReadonlySet<string> = new Set(['html']);

export interface TemplateProblem {
  /** JSON pointer into the template input, e.g. /content/subject. */
  pointer: string;
  message: string;
  line?: number;
  column?: number;
}

export interface TemplateWarning {
  /** JSON pointer into the template, e.g. /content/body. */
  field: string;
  message: string;
}

export interface SmsInfo {
  encoding: 'GSM-7' | 'UCS-2';
  segments: number;
  characters: number;
}

export interface TemplateAnalysis {
  errors: TemplateProblem[];
  warnings: TemplateWarning[];
  /** SMS only: segments of the text as written (variables count as their Liquid source). */
  sms?: SmsInfo;
}

interface LiquidErrorLike {
  message: string;
  token?: { getPosition?: () => [number, number] };
}

/** Liquid's message without the trailing ", line:1, col:4" (the line is reported on its own). */
function liquidMessage(err: LiquidErrorLike): { message: string; line?: number; column?: number } {
  const position = err.token?.getPosition?.();
  const match = /^(.*?), line:(\d+), col:(\d+)$/s.exec(err.message);
  const line = position?.[0] ?? (match ? Number(match[2]) : undefined);
  const column = position?.[1] ?? (match ? Number(match[3]) : undefined);
  const text = (match?.[1] ?? err.message).replace(/^[A-Za-z]*Error:\s*/, '');
  return {
    message:
      line !== undefined ? `Liquid syntax error on line ${line}${column !== undefined ? `, column ${column}` : ''}: ${text}` : `Liquid syntax error: ${text}`,
    line,
    column,
  };
}

function unknownVariable(segments: ReadonlyArray<unknown>): string | undefined {
  const path = segments.map((s) => (Array.isArray(s) ? '[…]' : String(s)));
  const [root, second] = path;
  if (root === undefined) return undefined;
  const shown = path.join('.');
  if (!Object.hasOwn(TEMPLATE_VARIABLES, root)) {
    return `unknown variable ${shown}: known roots are ${ROOTS.map((r) => (TEMPLATE_VARIABLES[r] === 'string' ? r : `${r}.*`)).join(', ')}`;
  }
  const spec = TEMPLATE_VARIABLES[root as Root];
  if (spec === OPEN) return undefined;
  if (spec === 'string') return path.length === 1 ? undefined : `unknown variable ${shown}: ${root} is a string`;
  if (second === undefined || second === '[…]') return undefined;
  if (Object.hasOwn(spec, second)) return undefined;
  const fields = Object.entries(spec).map(([f, kind]) => (kind === OPEN ? `${f}.*` : f));
  return `unknown variable ${shown}: ${root === 'owner' ? 'an owner' : `a ${root}`} has ${fields.join(', ')}`;
}

/**
 * At most this many Liquid tags and outputs (`{% %}`, `{{ }}`) in one field. Parsing and the
 * variable analysis cost grows faster than linearly with them (liquidjs' analysis is quadratic:
 * 1,000 outputs take ~0.4 s, 20,000 ~30 s), and they run when a template is saved and read.
 */
export const MAX_LIQUID_TAGS = 100;

const LIQUID_TAG = /\{\{|\{%/g;

/** Parses one Liquid text: the syntax error (with line) or the unknown variables it reads. */
export function checkLiquid(text: string): { error?: { message: string; line?: number; column?: number }; unknown: string[] } {
  const tags = text.match(LIQUID_TAG)?.length ?? 0;
  if (tags > MAX_LIQUID_TAGS)
    return { error: { message: `at most ${MAX_LIQUID_TAGS} Liquid tags and outputs ({{ }}, {% %}) per field (this one has ${tags})` }, unknown: [] };
  let parsed;
  try {
    parsed = engine.parse(text);
  } catch (err) {
    return { error: liquidMessage(err as LiquidErrorLike), unknown: [] };
  }
  const unknown = new Set<string>();
  for (const segments of engine.globalVariableSegmentsSync(parsed)) {
    const problem = unknownVariable(segments);
    if (problem) unknown.add(problem);
  }
  return { unknown: [...unknown] };
}

/**
 * Everything checked when a template is saved, content already shaped by its channel's schema:
 * Liquid syntax of every text field (errors), unknown variables (warnings), the channel's own
 * rules (errors), SMS segments (a warning above one).
 */
export function analyzeTemplate(channel: TemplateChannel, content: Record<string, unknown>): TemplateAnalysis {
  const errors: TemplateProblem[] = [];
  const warnings: TemplateWarning[] = [];
  for (const field of LIQUID_FIELDS[channel]) {
    const text = content[field];
    if (typeof text !== 'string') continue;
    const pointer = `/content/${field}`;
    const { error, unknown } = checkLiquid(text);
    if (error) errors.push({ pointer, ...error });
    for (const message of unknown) warnings.push({ field: pointer, message });
  }
  if (channel === 'email' && content.html === undefined && content.text === undefined) {
    errors.push({ pointer: '/content', message: 'an email template needs html or text (or both)' });
  }
  if (channel === 'voicemail') {
    const has = ['audioUrl', 'text'].filter((k) => content[k] !== undefined);
    if (has.length !== 1) errors.push({ pointer: '/content', message: 'a voicemail template needs exactly one of audioUrl or text' });
  }
  let sms: SmsInfo | undefined;
  if (channel === 'sms' && typeof content.body === 'string') {
    const counted = countSegments(content.body);
    sms = { encoding: counted.encoding, segments: counted.segments, characters: counted.characters };
    if (sms.segments > 1) {
      const perPart = sms.encoding === 'GSM-7' ? '160 GSM-7 characters (153 per part when split)' : '70 UCS-2 characters (67 per part when split)';
      warnings.push({
        field: '/content/body',
        message: `the message needs ${sms.segments} SMS segments (${sms.characters} ${sms.encoding} characters; one segment holds ${perPart}) and is billed ${sms.segments} times`,
      });
    }
  }
  return { errors, warnings, ...(sms ? { sms } : {}) };
}

/** Template ids a definition uses (steps' `template` and A/B `variants`), in order of first use. */
export function templateIdsOf(definition: Pick<AutomationDefinition, 'steps'>): string[] {
  const ids = new Set<string>();
  for (const step of definition.steps) {
    if ('template' in step && typeof step.template === 'string') ids.add(step.template);
    if (step.type === 'email') for (const v of step.variants ?? []) ids.add(v.template);
  }
  return [...ids];
}

/** What a render is given; missing parts read as empty (a preview has no sender, a staff email no unsubscribe link). */
export interface ScopeParts {
  record: object;
  event?: { id: string; type: string; occurredAt: string; properties: Record<string, unknown> } | null;
  owner?: object | null;
  workspace?: object | null;
  enrollment?: object | null;
  sender?: object | null;
  unsubscribeUrl?: string | null;
}

/** Only the fields TEMPLATE_VARIABLES lists, so a template reads nothing the save-time check did not accept. */
function pick(value: object | null | undefined, root: Root): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!value) return out;
  for (const field of fieldsOf(root)) if (Object.hasOwn(value, field)) out[field] = (value as Record<string, unknown>)[field];
  return out;
}

/** The Liquid scope of one render: every root of TEMPLATE_VARIABLES, each with its listed fields. */
export function templateScope(parts: ScopeParts): Record<Root, unknown> {
  const e = parts.event;
  return {
    record: pick(parts.record, 'record'),
    // Properties first, then the envelope: `event.type` is the event's type, as in conditions.
    event: e ? { ...e.properties, id: e.id, type: e.type, occurredAt: e.occurredAt, properties: e.properties } : {},
    owner: pick(parts.owner, 'owner'),
    workspace: pick(parts.workspace, 'workspace'),
    enrollment: pick(parts.enrollment, 'enrollment'),
    sender: pick(parts.sender, 'sender'),
    unsubscribeUrl: parts.unsubscribeUrl ?? '',
  };
}

/**
 * Renders every Liquid field of a content in the sandbox, the html field with escaped output;
 * other fields (audioUrl) pass as they are.
 */
export async function renderContent(channel: TemplateChannel, content: Record<string, string>, parts: ScopeParts): Promise<Record<string, string>> {
  const out: Record<string, string> = { ...content };
  const scope = templateScope(parts);
  for (const field of LIQUID_FIELDS[channel]) {
    const text = content[field];
    const liquid = HTML_FIELDS.has(field) ? htmlEngine : engine;
    if (typeof text === 'string') out[field] = await liquid.parseAndRender(text, scope, { ownPropertyOnly: true });
  }
  return out;
}
