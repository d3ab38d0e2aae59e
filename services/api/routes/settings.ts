/**
 * /v1/settings: the workspace's settings (docs/design.md §7.3). GET shows every field; PUT changes only
 * the fields (and, inside the per-channel objects, the channels) it is sent. Changes apply to
 * steps whose due time is computed from then on (new enrollments take the quiet hours current
 * at their start), and the preview shows them.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IANAZone } from 'luxon';
import type { Db } from '#db/connection';
import { getSender } from '#db/senders';
import { getWorkspaceSettings, updateWorkspaceSettings } from '#db/settings';
import { CHANNELS, WorkspaceSettings, WorkspaceSettingsUpdate } from '#domain/settings';
import { invalid } from '../errors';
import { v1Problems } from '../schemas/common';

const TAGS = ['settings'];

function problemsOf(body: WorkspaceSettingsUpdate): Array<{ field: string; message: string }> {
  const problems: Array<{ field: string; message: string }> = [];
  if (body.timezone !== undefined && !IANAZone.isValidZone(body.timezone)) {
    problems.push({ field: '/body/timezone', message: `"${body.timezone}" is not an IANA time zone (e.g. Europe/Bucharest)` });
  }
  for (const channel of CHANNELS) {
    const quiet = body.quietHours?.[channel];
    if (quiet && quiet.start === quiet.end) problems.push({ field: `/body/quietHours/${channel}/end`, message: 'must differ from start' });
  }
  return problems;
}

/** A default sender must exist and be for its channel. */
async function senderProblems(db: Db, workspaceId: string, body: WorkspaceSettingsUpdate): Promise<Array<{ field: string; message: string }>> {
  const problems: Array<{ field: string; message: string }> = [];
  for (const channel of CHANNELS) {
    const id = body.defaultSenders?.[channel];
    if (!id) continue;
    const sender = await getSender(db, workspaceId, id);
    if (!sender) problems.push({ field: `/body/defaultSenders/${channel}`, message: `no sender has the id "${id}" (POST /v1/senders)` });
    else if (sender.channel !== channel)
      problems.push({ field: `/body/defaultSenders/${channel}`, message: `sender "${id}" is for ${sender.channel}, not ${channel}` });
  }
  return problems;
}

const settings: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/settings',
    {
      schema: {
        tags: TAGS,
        summary: "Read the workspace's settings",
        response: { 200: WorkspaceSettings, ...v1Problems() },
      },
    },
    async (request) => (await getWorkspaceSettings(app.db, request.workspaceId))!,
  );

  app.put(
    '/settings',
    {
      schema: {
        tags: TAGS,
        summary: "Change the workspace's settings",
        description:
          'Fields left out keep their value, and so do channels left out of `channels`, `quietHours` and `defaultSenders` (and providers left out of `sendsPerSecond`); ' +
          'null clears a quiet-hours entry, a default sender, a send rate (back to the service default) or the SMS HELP text. ' +
          'Default quiet hours hold back SMS/voicemail steps (moved to the end of the quiet hours, never dropped) of every automation that sets none of its own for that channel. ' +
          'Switching a channel off makes activating an automation with a step on it answer 409. Answers the settings as they are now.',
        body: WorkspaceSettingsUpdate,
        response: { 200: WorkspaceSettings, ...v1Problems(400, 413, 415) },
      },
    },
    async (request) => {
      const problems = [...problemsOf(request.body), ...(await senderProblems(app.db, request.workspaceId, request.body))];
      if (problems.length > 0) throw invalid(problems);
      return (await updateWorkspaceSettings(app.db, request.workspaceId, request.body))!;
    },
  );
};

export default settings;
