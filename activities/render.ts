/**
 * Template rendering at send time, with domain/templates.ts's engine and scope (one configuration
 * and one variable list for the save-time check, the preview and the send). liquidjs interprets
 * templates (no code is compiled or evaluated); `ownPropertyOnly` hides prototype members and the
 * limits bound what one template may cost, so a template can read its scope and nothing else.
 */
import type { Db } from '#db/connection';
import { getUser } from '#db/users';
import { getWorkspace } from '#db/workspaces';
import { renderContent, type ScopeParts } from '#domain/templates';
import type { TemplateSnapshot } from '#domain/enrollment';
import type { RenderContext } from '#domain/commands';

export class TemplateError extends Error {
  constructor(
    readonly templateId: string,
    cause: unknown,
  ) {
    super(`template ${templateId} does not render: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'TemplateError';
  }
}

/**
 * Everything a template may read at send time: the workflow's context (record, event, enrollment)
 * with the record's owner and the workspace as they are now, and what the send chose (sender,
 * unsubscribe link).
 */
export async function sendScope(
  db: Db,
  workspaceId: string,
  context: RenderContext,
  chosen: { sender?: ScopeParts['sender']; unsubscribeUrl?: string | null } = {},
): Promise<ScopeParts> {
  const ownerId = context.record.ownerId;
  const [owner, workspace] = await Promise.all([ownerId ? getUser(db, workspaceId, ownerId) : undefined, getWorkspace(db, workspaceId)]);
  return { ...context, owner: owner ?? null, workspace: workspace ?? null, sender: chosen.sender ?? null, unsubscribeUrl: chosen.unsubscribeUrl ?? null };
}

/** Renders the Liquid fields of a pinned template version (subject, html, text, body, title, ...). */
export async function renderTemplate(template: TemplateSnapshot, scope: ScopeParts): Promise<Record<string, string>> {
  try {
    return await renderContent(template.channel, template.content, scope);
  } catch (err) {
    throw new TemplateError(template.id, err);
  }
}
