/**
 * Template rendering: Liquid in a sandbox. liquidjs interprets templates (no code is compiled or
 * evaluated); `ownPropertyOnly` hides prototype members and the limits bound what one template
 * may cost, so a template written through the API can read its context and nothing else.
 */
import { Liquid } from 'liquidjs';
import type { TemplateSnapshot } from '../domain/enrollment';
import type { RenderContext } from './types';

const liquid = new Liquid({
  ownPropertyOnly: true,
  strictFilters: true,
  strictVariables: false,
  cache: 500,
  parseLimit: 100_000,
  renderLimit: 1_000,
  memoryLimit: 10_000_000,
  relativeReference: false,
  // No file system: {% include %} and {% render %} find nothing.
  fs: { exists: async () => false, existsSync: () => false, readFile: async () => '', readFileSync: () => '', resolve: (_d, f) => f, contains: async () => false, containsSync: () => false },
  root: [],
  partials: [],
  layouts: [],
});

export class TemplateError extends Error {
  constructor(readonly templateId: string, cause: unknown) {
    super(`template ${templateId} does not render: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TemplateError';
  }
}

export async function renderString(source: string | undefined, context: RenderContext): Promise<string | null> {
  if (source === undefined || source === null) return null;
  return String(await liquid.parseAndRender(source, context as unknown as Record<string, unknown>));
}

/** Renders every text field of a pinned template version (subject, html, text, body, title, ...). */
export async function renderTemplate(template: TemplateSnapshot, context: RenderContext): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  try {
    for (const [key, value] of Object.entries(template.content)) {
      if (typeof value !== 'string') continue;
      out[key] = key === 'audioUrl' ? value : ((await renderString(value, context)) ?? '');
    }
  } catch (err) {
    throw new TemplateError(template.id, err);
  }
  return out;
}
