/**
 * The "dev" workspace that `npm start` creates on first run. Keys are stored hashed, so the full
 * key is kept in the data folder to be printed again on later runs.
 */
import { readFile, writeFile } from 'node:fs/promises';
import type { Db } from '#db/connection';
import { createApiKey, createWorkspaceWithKey, findWorkspaceByName, workspaceForKey } from '#db/workspaces';

export const DEV_WORKSPACE = 'dev';

export async function ensureDevWorkspace(db: Db, keyFile: string): Promise<{ apiKey: string; workspaceId: string; created: boolean }> {
  const saved = (await readFile(keyFile, 'utf8').catch(() => '')).trim();
  const workspace = await findWorkspaceByName(db, DEV_WORKSPACE);
  if (workspace && saved && (await workspaceForKey(db, saved))?.workspaceId === workspace.id) {
    return { apiKey: saved, workspaceId: workspace.id, created: false };
  }
  // First run; or the database was replaced, or the key file lost or revoked: mint what is missing.
  const minted = workspace
    ? { workspaceId: workspace.id, apiKey: (await createApiKey(db, workspace.id, 'dev (npm start)')).key, created: false }
    : await createWorkspaceWithKey(db, { name: DEV_WORKSPACE }).then((ws) => ({ workspaceId: ws.id, apiKey: ws.apiKey, created: true }));
  await writeFile(keyFile, `${minted.apiKey}\n`, { mode: 0o600 });
  return minted;
}
