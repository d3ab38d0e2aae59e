/**
 * Template rendering at send time: Liquid in a sandbox, with domain/templates.ts's engine (one
 * configuration for the save-time check, the preview and the send). liquidjs interprets templates
 * (no code is compiled or evaluated); `ownPropertyOnly` hides prototype members and the limits
 * bound what one template may cost, so a template can read its context and nothing else.
 */
import { createTemplateEngine } from '../domain/templates';
import type { TemplateSnapshot } from '../domain/enrollment';
import type { RenderContext } from './types';

/** The same engine (options, refused tags, limits) as the save-time check and the preview. */
const liquid = createTemplateEngine();

export class TemplateError extends Error {
  constructor(
    readonly templateId: string,
    cause: unknown,
  ) {
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
