/**
 * Reading and writing recorded histories (test/histories/*.json).
 *
 * Files are written as the protobuf object form of `temporal.api.history.v1.History` (longs,
 * enums and bytes as strings) and read back with `History.fromObject`. The canonical proto3-JSON
 * form (what `temporal workflow show --output json` and the Web UI export) is read as well, with
 * the SDK's `historyFromJSON`. Why not write that form: in this install @temporalio/common's
 * `historyToJSON`/`historyFromJSON` fail with "type must be a Type" (it resolves its own nested
 * copy of protobufjs 8, not the one @temporalio/proto was built with); once the lock file dedupes
 * protobufjs they work and either form replays.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import proto from '@temporalio/proto';

const { temporal } = proto;
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

export type History = proto.temporal.api.history.v1.IHistory;

export function saveHistory(path: string, history: History): void {
  const object = temporal.api.history.v1.History.toObject(temporal.api.history.v1.History.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
  writeFileSync(path, `${JSON.stringify(object, null, 1)}\n`);
}

export function loadHistory(path: string): History {
  const json = JSON.parse(readFileSync(path, 'utf8')) as { events?: Array<{ eventTime?: unknown }> };
  if (typeof json.events?.[0]?.eventTime === 'string') return historyFromJSON(json);
  return temporal.api.history.v1.History.fromObject(json);
}
