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

/**
 * The longest each Liquid field may be, in characters, both as written (the content schema) and
 * as rendered for a send (renderContent): one figure per field, checked at save and at send.
 * - email subject 998: RFC 5322's line-length limit for a header;
 * - email html / text 500,000 each: well inside SendGrid's 30 MB per message (Gmail clips an html
 *   body past ~102 KB, so real bodies stay far below);
 * - SMS body 1,600: the most Twilio's Messages API accepts (10 GSM-7 segments);
 * - voicemail text 3,000: spoken by Twilio's <Say> (which takes up to 4,096), about 3 minutes of speech;
 * - task title 500, body 20,000: what a task list shows.
 */
export const FIELD_LIMITS = {
  email: { subject: 998, html: 500_000, text: 500_000 },
  sms: { body: 1600 },
  voicemail: { text: 3000 },
  task: { title: 500, body: 20_000 },
} as const satisfies Record<TemplateChannel, Record<string, number>>;

const liquidText = (description: string, maxLength: number, minLength = 0) =>
  Type.String({ minLength, maxLength, description: `${description} (Liquid, e.g. {{ record.name }}); at most ${maxLength} characters, also once rendered` });

export const EmailContent = Type.Object(
  {
    subject: liquidText('Subject line', FIELD_LIMITS.email.subject, 1),
    html: Type.Optional(liquidText('HTML body; {{ }} output is HTML-escaped, `| raw` (last filter) writes a trusted value as it is', FIELD_LIMITS.email.html)),
    text: Type.Optional(liquidText('Plain-text body', FIELD_LIMITS.email.text)),
    sendgridTemplateId: Type.Optional(
      Type.String({
        pattern: '^d-[0-9a-f]{32}$',
        description:
          "A SendGrid dynamic template (d-…) that renders this email instead of html/text (leave both out): the send carries template_id and dynamic_template_data = the send context (record, event, owner, workspace, enrollment, sender, unsubscribeUrl) with `subject`, this template's rendered subject (use {{subject}} in the SendGrid template's subject line)",
        examples: ['d-0123456789abcdef0123456789abcdef'],
      }),
    ),
  },
  {
    additionalProperties: false,
    description: 'Email: a subject and an html and/or text body, or a subject and a SendGrid dynamic template',
    title: 'EmailContent',
  },
);
export const SmsContent = Type.Object(
  { body: liquidText('Message text', FIELD_LIMITS.sms.body, 1) },
  { additionalProperties: false, description: 'SMS: the message body', title: 'SmsContent' },
);
export const VoicemailContent = Type.Object(
  {
    audioUrl: Type.Optional(Type.String({ pattern: '^https?://\\S+$', maxLength: 2000, description: 'A recording to drop (played as is)' })),
    text: Type.Optional(liquidText('Text spoken by text-to-speech', FIELD_LIMITS.voicemail.text)),
  },
  { additionalProperties: false, description: 'Voicemail drop: exactly one of audioUrl or text', title: 'VoicemailContent' },
);
export const TaskContent = Type.Object(
  {
    title: liquidText('Task title', FIELD_LIMITS.task.title, 1),
    body: Type.Optional(liquidText('Task description', FIELD_LIMITS.task.body)),
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
  email: Object.keys(FIELD_LIMITS.email),
  sms: Object.keys(FIELD_LIMITS.sms),
  voicemail: Object.keys(FIELD_LIMITS.voicemail),
  task: Object.keys(FIELD_LIMITS.task),
};

/** A variable whose sub-fields are free-form (record attributes, event properties). */
const OPEN = 'open' as const;

/**
 * The variables a template may read, one list for the save-time check (anything else is a
 * warning) and for the scope every render builds (`templateScope` copies exactly these fields):
 * what the check accepts is what a send has. `event` is the trigger event, or the event that ended
 * a `wait_for`, read as conditions read it: its properties (`event.rating`) beside its own `id`,
 * `type`, `occurredAt` and `properties`. Each closed field gives the longest value it can hold
 * (the API's schemas: a record's name 200, an email address 320, ...), which bounds at save what a
 * template can render to (`renderedSizeErrors`).
 */
export const TEMPLATE_VARIABLES = {
  record: { externalId: 100, name: 200, email: 320, phone: 32, stage: 100, timezone: 64, ownerId: 200, attributes: OPEN },
  event: OPEN,
  owner: { id: 100, name: 200, email: 320, phone: 32, timezone: 64 },
  workspace: { id: 30, name: 200, timezone: 64 },
  enrollment: { id: 30, automationId: 200, version: 10, variant: 1 },
  sender: { id: 100, from: 320, name: 200, replyTo: 320 },
  unsubscribeUrl: 'string',
} as const;

/** `${PUBLIC_URL}/u/<token>`: a token of at most ~250 characters behind a public URL of up to ~150. */
const UNSUBSCRIBE_URL_LONGEST = 400;

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
  if (channel === 'email' && content.sendgridTemplateId !== undefined) {
    for (const field of ['html', 'text'] as const) {
      if (content[field] !== undefined)
        errors.push({ pointer: `/content/${field}`, message: `SendGrid renders the body of a sendgridTemplateId email: leave ${field} out` });
    }
  } else if (channel === 'email' && content.html === undefined && content.text === undefined) {
    errors.push({ pointer: '/content', message: 'an email template needs html or text (or both), or a sendgridTemplateId' });
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

/** The longest `field` of `channel` may be, written or rendered. */
function fieldLimit(channel: TemplateChannel, field: string): number {
  return (FIELD_LIMITS[channel] as Record<string, number>)[field]!;
}

const describeField = (channel: TemplateChannel, field: string) =>
  channel === 'sms' ? 'an SMS body' : `${/^[aeiou]/.test(channel) ? 'an' : 'a'} ${channel} ${field}`;

/** Why a rendered field is refused: longer than its field limit. */
function renderedSizeError(channel: TemplateChannel, field: string, length: number): string | undefined {
  const limit = fieldLimit(channel, field);
  return length > limit ? `the rendered ${field} is ${length} characters; ${describeField(channel, field)} takes at most ${limit}` : undefined;
}

/** A scope where every closed variable holds its longest value and the free-form ones (attributes, event) are empty. */
function longestScope(): Record<Root, unknown> {
  const longest = (root: Root) => {
    const spec = TEMPLATE_VARIABLES[root];
    if (typeof spec !== 'object') return {};
    return Object.fromEntries(Object.entries(spec).map(([field, max]) => [field, max === OPEN ? {} : 'x'.repeat(max)]));
  };
  return {
    record: longest('record'),
    event: {},
    owner: longest('owner'),
    workspace: longest('workspace'),
    enrollment: longest('enrollment'),
    sender: longest('sender'),
    unsubscribeUrl: 'x'.repeat(UNSUBSCRIBE_URL_LONGEST),
  };
}

/**
 * Fields that can render past their limit (FIELD_LIMITS): rendered once with every closed variable
 * at its longest (TEMPLATE_VARIABLES) and the free-form ones empty, so a loop or repeated variables
 * that overflow are refused at save. Values of free-form fields (attributes, event properties) are
 * not known until a send, which checks the rendered size again and fails the message with the
 * reason. Run at save only (it renders): reads and lists do not pay for it.
 */
export function renderedSizeErrors(channel: TemplateChannel, content: Record<string, unknown>): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  const scope = longestScope();
  for (const field of LIQUID_FIELDS[channel]) {
    const text = content[field];
    if (typeof text !== 'string') continue;
    const pointer = `/content/${field}`;
    let rendered: string;
    try {
      rendered = String((HTML_FIELDS.has(field) ? htmlEngine : engine).parseAndRenderSync(text, scope, { ownPropertyOnly: true }));
    } catch (err) {
      // Past the render time or memory limit: it would fail at every send. Other errors depend on the values.
      const message = err instanceof Error ? err.message : String(err);
      if (/limit/i.test(message)) problems.push({ pointer, message: `does not render within the limits: ${liquidMessage(err as LiquidErrorLike).message}` });
      continue;
    }
    const limit = fieldLimit(channel, field);
    if (rendered.length > limit) {
      problems.push({
        pointer,
        message: `can render to ${rendered.length} characters when its variables hold their longest values (record.name up to ${TEMPLATE_VARIABLES.record.name}, an email address up to ${TEMPLATE_VARIABLES.record.email}, ...); ${describeField(channel, field)} takes at most ${limit}`,
      });
    }
  }
  return problems;
}

/** Where a definition names templates (steps' `template` and A/B `variants`), in step order, with JSON pointers into the definition. */
export function templateUses(definition: Pick<AutomationDefinition, 'steps'>): Array<{ id: string; pointer: string }> {
  const uses: Array<{ id: string; pointer: string }> = [];
  for (const [index, step] of definition.steps.entries()) {
    if ('template' in step && typeof step.template === 'string') uses.push({ id: step.template, pointer: `/steps/${index}/template` });
    if (step.type === 'email')
      for (const [v, variant] of (step.variants ?? []).entries()) uses.push({ id: variant.template, pointer: `/steps/${index}/variants/${v}/template` });
  }
  return uses;
}

/** Template ids a definition uses, in order of first use. */
export function templateIdsOf(definition: Pick<AutomationDefinition, 'steps'>): string[] {
  return [...new Set(templateUses(definition).map((u) => u.id))];
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
 * other fields (audioUrl) pass as they are. A field rendered past its limit (FIELD_LIMITS) throws.
 */
export async function renderContent(channel: TemplateChannel, content: Record<string, string>, parts: ScopeParts): Promise<Record<string, string>> {
  const out: Record<string, string> = { ...content };
  const scope = templateScope(parts);
  for (const field of LIQUID_FIELDS[channel]) {
    const text = content[field];
    const liquid = HTML_FIELDS.has(field) ? htmlEngine : engine;
    if (typeof text !== 'string') continue;
    const rendered = String(await liquid.parseAndRender(text, scope, { ownPropertyOnly: true }));
    const tooLong = renderedSizeError(channel, field, rendered.length);
    if (tooLong) throw new Error(tooLong);
    out[field] = rendered;
  }
  return out;
}
