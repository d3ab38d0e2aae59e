/**
 * GET /dashboard in a real browser: Debian's Chromium (found, or installed when we may, by
 * scripts/provision/chromium.ts; when neither, only this file fails, saying so) driven by playwright-core, against the API and worker on the real Temporal dev server and
 * PostgreSQL. The workspace is seeded through the API and the engine (real enrollments, sandboxed
 * messages, tasks); the test then signs in as a user would and reads what the page shows, checking
 * every figure against the JSON API's answer for the same automation.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureChromium } from '#scripts/provision/chromium';
import { testEnv } from '../helpers/env';
import { createAutomation, putRecord, startEngineTest, waitFor, type EngineTest } from './engine-support';

vi.setConfig({ testTimeout: 240_000 });

/** A record name that would run as script if the page put data in as HTML. */
const HOSTILE_NAME = '<script>window.__dashboardInjected = true</script><img src=x onerror="window.__dashboardInjected = true"> Ana';
const AUTOMATION_NAME = 'Welcome <b>series</b> & more';
const RECORDS = ['dash-1', 'dash-2', 'dash-3'];

let e: EngineTest;
let profile: string;
let browser: BrowserContext;
let automationId: string;
const enrollmentIds = new Map<string, string>();

beforeAll(async () => {
  const executablePath = await ensureChromium((line) => process.stderr.write(`[dashboard] ${line}\n`));
  e = await startEngineTest();
  profile = await mkdtemp(join(tmpdir(), 'followup-dashboard-'));
  // A fresh profile (playwright passes it as --user-data-dir) and nothing that reaches beyond loopback.
  browser = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });

  const automation = await createAutomation(
    e,
    {
      name: AUTOMATION_NAME,
      trigger: { type: 'manual' },
      steps: [
        { id: 'welcome', type: 'email', to: 'record', variants: [{ template: 'tpl_dash_a' }, { template: 'tpl_dash_b' }] },
        { id: 'call', type: 'task', template: 'tpl_dash_call', priority: 'high' },
        { id: 'settle', type: 'wait', duration: 'P30D' },
        { id: 'later', type: 'email', to: 'record', template: 'tpl_dash_later' },
      ],
    },
    {
      templates: [
        { id: 'tpl_dash_a' },
        { id: 'tpl_dash_b' },
        { id: 'tpl_dash_call', channel: 'task', content: { title: 'Call {{ record.name }}' } },
        { id: 'tpl_dash_later' },
      ],
    },
  );
  automationId = automation.id;
  for (const recordId of RECORDS) {
    await putRecord(e, recordId, recordId === 'dash-1' ? { name: HOSTILE_NAME } : {});
    const enrolled = await e.api('POST', `/v1/automations/${automationId}/enrollments`, { recordId });
    expect(enrolled.status, JSON.stringify(enrolled.body)).toBe(201);
    enrollmentIds.set(recordId, enrolled.body.id);
  }
  // Every enrollment reaches the long wait (its email sent, its task open), then one is unenrolled.
  await waitFor('the enrollments to wait in `settle`', async () => {
    const res = await e.api('GET', `/v1/automations/${automationId}/enrollments?step=settle`);
    return res.body.items.length === RECORDS.length;
  });
  const exit = await e.api('POST', `/v1/enrollments/${enrollmentIds.get('dash-3')}/exit`);
  expect(exit.status, JSON.stringify(exit.body)).toBe(202);
  await waitFor('dash-3 to exit', async () => (await e.api('GET', `/v1/enrollments/${enrollmentIds.get('dash-3')}`)).body.status === 'exited');
  await waitFor('the messages to be sandboxed', async () => {
    const res = await e.api('GET', `/v1/messages?automationId=${automationId}`);
    return res.body.items.length === RECORDS.length && res.body.items.every((m: any) => m.status === 'sandboxed');
  });
  // apt-get may install Chromium first (the first run on a machine).
}, 600_000);

afterAll(async () => {
  await browser?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await e?.close();
});

const text = async (locator: Locator) => ((await locator.textContent()) ?? '').trim();

/** Every labelled figure under `scope`, by the API field it shows (`data-figure`). */
async function shownFigures(scope: Locator): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const figure of await scope.locator(':scope > dl > [data-figure]').all()) {
    out[(await figure.getAttribute('data-figure'))!] = await text(figure.locator('dd'));
  }
  return out;
}

const count = (n: number) => n.toLocaleString('en-US');
const percent = (rate: number | null) => (rate === null ? '–' : `${(rate * 100).toFixed(1)}%`);
const MESSAGE_FIELDS = ['sent', 'delivered', 'opened', 'clicked', 'bounced', 'unsubscribed', 'replied', 'failed', 'suppressed'];

/** The figures the page must show for an answer of GET /v1/stats or GET /v1/automations/{id}/stats. */
function expectedFigures(stats: any, withMessages: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of ['active', 'paused', 'started', 'completed', 'exited', 'failed', 'converted'])
    out[`enrollments.${field}`] = count(stats.enrollments[field]);
  if (withMessages) for (const field of MESSAGE_FIELDS) out[`messages.total.${field}`] = count(stats.messages.total[field]);
  for (const [field, rate] of Object.entries(stats.rates)) out[`rates.${field}`] = percent(rate as number | null);
  return out;
}

async function openDashboard(): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage();
  // Script errors and refused loads (a CSP violation is logged as a console error) fail the test.
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  const response = await page.goto(`${e.t.baseUrl}/dashboard`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
  return { page, problems };
}

/** The next statistics request the page makes to `path`: its query and the days its window spans. */
async function statsRequest(page: Page, path: string): Promise<{ search: string; days: number }> {
  const response = await page.waitForResponse((r) => new URL(r.url()).pathname === path);
  const url = new URL(response.url());
  const span = Date.parse(url.searchParams.get('to')!) - Date.parse(url.searchParams.get('from')!);
  return { search: url.search, days: span / 86_400_000 };
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe('GET /dashboard', () => {
  it('is a page with no key needed, under a Content-Security-Policy, and no operation of the OpenAPI document', async () => {
    const page = await fetch(`${e.t.baseUrl}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(await page.text()).toContain(`data-workflows-url="${e.config.TEMPORAL_UI_URL}/namespaces/default/workflows"`);
    for (const [file, type] of [
      ['app.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
    ]) {
      const asset = await fetch(`${e.t.baseUrl}/dashboard/${file}`);
      expect([asset.status, asset.headers.get('content-type')]).toEqual([200, type]);
    }
    // Not an API operation (like /u/{token}): the contract fuzzer never requests it.
    const doc = (await (await fetch(`${e.t.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((path) => path.startsWith('/dashboard'))).toEqual([]);
  });

  it('refuses a wrong key with a clear message, then shows the workspace to the right one', async () => {
    const { page, problems } = await openDashboard();

    // A well-formed key no workspace has.
    await signIn(page, `fu_${'0'.repeat(32)}`);
    const error = page.getByRole('alert');
    await error.waitFor({ state: 'visible' });
    expect(await text(error)).toBe('This API key was not accepted: unknown or revoked API key.');
    expect(await page.locator('#content').isVisible()).toBe(false);
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    problems.length = 0; // the refused request's 401 is logged by the browser

    const workspaceAsked = statsRequest(page, '/v1/stats');
    await signIn(page, e.t.apiKey);
    const row = page.locator(`#automations tr[data-automation="${automationId}"]`);
    await row.waitFor();
    expect(await error.isVisible()).toBe(false);
    expect(await text(row.locator('th'))).toBe(AUTOMATION_NAME);
    expect(await row.locator('th b').count()).toBe(0);
    expect(await text(row.locator('.badge'))).toBe('active');

    // The workspace summary and the automations' figures are GET /v1/stats as the page shows it.
    const month = await workspaceAsked;
    expect(month.days).toBe(30);
    const workspace = await e.api('GET', `/v1/stats${month.search}`);
    expect(await shownFigures(page.locator('#summary'))).toEqual(expectedFigures(workspace.body, true));
    expect(workspace.body.enrollments).toMatchObject({ active: 2, started: 3, exited: 1 });
    const listed = workspace.body.automations.find((a: any) => a.id === automationId).enrollments;
    expect(await row.locator('td.num').allTextContents()).toEqual(['active', 'started', 'completed', 'exited', 'failed'].map((f) => count(listed[f])));

    // One automation: its figures, steps, variants and exits equal GET /v1/automations/{id}/stats.
    const automationAsked = statsRequest(page, `/v1/automations/${automationId}/stats`);
    await row.getByRole('link').click();
    const section = page.locator('#automation');
    await section.waitFor({ state: 'visible' });
    expect(page.url()).toBe(`${e.t.baseUrl}/dashboard#automation/${automationId}`);
    expect(await text(page.locator('#automation-title'))).toBe(`${AUTOMATION_NAME} active`);
    // The same window as the workspace's figures.
    expect((await automationAsked).search).toBe(month.search);
    const stats = (await e.api('GET', `/v1/automations/${automationId}/stats${month.search}`)).body;
    expect(await shownFigures(page.locator('#automation-body'))).toEqual(expectedFigures(stats, false));
    expect(stats.enrollments.byStep).toEqual({ settle: { waiting: 2, paused: 0 } });
    for (const step of ['welcome', 'call', 'settle', 'later']) {
      const cells = section.locator(`tr[data-step="${step}"]`);
      expect(await text(cells.locator('[data-field="waiting"]'))).toBe(count(stats.enrollments.byStep[step]?.waiting ?? 0));
      for (const field of MESSAGE_FIELDS) {
        const sent = stats.messages.byStep[step];
        expect(await text(cells.locator(`[data-field="${field}"]`)), `${step} ${field}`).toBe(sent ? count(sent[field]) : '');
      }
    }
    expect(stats.messages.byStep.welcome.sent).toBe(3);
    const variants = Object.keys(stats.messages.byVariant).sort();
    expect(variants.length).toBeGreaterThan(0);
    expect(await section.locator('tr[data-variant]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-variant')).sort())).toEqual(variants);
    for (const letter of variants) {
      expect(await text(section.locator(`tr[data-variant="${letter}"] [data-field="sent"]`))).toBe(count(stats.messages.byVariant[letter].sent));
    }
    expect(stats.enrollments.exitedByReason).toEqual({ manual: 1 });
    expect(await text(section.locator('tr[data-reason="manual"] td'))).toBe('1');

    // Recent enrollments with their status and a link to the workflow in the Temporal Web UI.
    const exited = section.locator(`tr[data-enrollment="${enrollmentIds.get('dash-3')}"]`);
    expect(await text(exited.locator('th'))).toBe('dash-3');
    expect(await text(exited.locator('.badge'))).toBe('exited');
    expect(await text(exited.locator('td').nth(2))).toBe('manual');
    const waiting = section.locator(`tr[data-enrollment="${enrollmentIds.get('dash-1')}"]`);
    expect(await text(waiting.locator('.badge'))).toBe('active');
    expect(await text(waiting.locator('td').nth(1))).toBe('settle');
    const workflowId = `enrollment/${e.t.workspaceId}/${automationId}/dash-1/1`;
    const href = await waiting.getByRole('link', { name: 'Temporal' }).getAttribute('href');
    expect(href).toBe(`${e.config.TEMPORAL_UI_URL}/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId = "${workflowId}"`)}`);
    if (testEnv().temporalUiUrl) {
      // The run's own Temporal Web UI (absent only with FOLLOWUP_TEST_TEMPORAL_ADDRESS) lists that workflow and no other.
      const ui = await browser.newPage();
      await ui.goto(href!);
      await ui.getByText(workflowId, { exact: true }).first().waitFor({ timeout: 90_000 });
      expect(await ui.getByText(`enrollment/${e.t.workspaceId}/${automationId}/dash-2/1`, { exact: true }).count()).toBe(0);
      await ui.close();
    }

    // Record names and rendered templates are shown as text, never run.
    const messages = page.locator('#messages tbody tr');
    expect(await messages.count()).toBe(RECORDS.length);
    expect(await messages.locator('td.text').allTextContents()).toContain((await e.api('GET', '/v1/messages?recordId=dash-1')).body.items[0].subject as string);
    expect(await page.locator('#messages td.text', { hasText: HOSTILE_NAME }).count()).toBe(1);
    const tasks = await page.locator('#tasks tbody tr td.text').allTextContents();
    expect(tasks.sort()).toEqual([`Call ${HOSTILE_NAME}`, 'Call Name dash-2', 'Call Name dash-3'].sort());
    expect(await page.locator('main script, main img').count()).toBe(0);
    expect(await page.evaluate(() => (window as unknown as { __dashboardInjected?: boolean }).__dashboardInjected)).toBeUndefined();
    expect(problems).toEqual([]);

    // Another window: the page asks for it and shows the API's figures for it.
    const dayAsked = statsRequest(page, '/v1/stats');
    await page.getByLabel('Figures over').selectOption({ label: 'the last 24 hours' });
    const day = await dayAsked;
    expect(day.days).toBe(1);
    const dayFigures = expectedFigures((await e.api('GET', `/v1/stats${day.search}`)).body, true);
    await expect.poll(() => shownFigures(page.locator('#summary'))).toEqual(dayFigures);

    // The key lives in this tab only; signing out forgets it.
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.locator('#sign-in').waitFor({ state: 'visible' });
    expect(await page.evaluate(() => sessionStorage.length)).toBe(0);
    await page.close();
  });
});
