/**
 * The dashboard's script (GET /dashboard/app.js): an ES module run as is, no build step.
 *
 * It signs in with an API key kept in sessionStorage (this tab only, gone when it closes) and
 * reads the public /v1 API with it, as a backend would: the workspace summary (GET /v1/stats over
 * the chosen window), the automations, one automation's statistics and recent enrollments, recent
 * messages and open tasks. Everything the API returns is user data (record names, rendered templates), so it enters
 * the page only as text nodes and attribute values through el(), never as markup.
 */

const KEY_STORAGE = 'followup.dashboard.apiKey';
const RECENT = 20;
/** Where the Temporal Web UI lists this namespace's workflows; written into the page by the API. */
const WORKFLOWS_URL = document.body.dataset.workflowsUrl;

const ENROLLMENT_FIGURES = [
  ['active', 'Running now'],
  ['paused', 'Paused now'],
  ['started', 'Started'],
  ['completed', 'Completed'],
  ['exited', 'Exited'],
  ['failed', 'Failed'],
  ['converted', 'Converted'],
];
const MESSAGE_FIGURES = [
  ['sent', 'Sent'],
  ['delivered', 'Delivered'],
  ['opened', 'Opened'],
  ['clicked', 'Clicked'],
  ['bounced', 'Bounced'],
  ['unsubscribed', 'Unsubscribed'],
  ['replied', 'Replied'],
  ['failed', 'Failed'],
  ['suppressed', 'Suppressed'],
];
const RATES = [
  ['completion', 'Completion'],
  ['error', 'Error'],
  ['conversion', 'Conversion'],
  ['open', 'Open'],
  ['click', 'Click'],
  ['unsubscribe', 'Unsubscribe'],
  ['reply', 'Reply'],
];

const $ = (id) => document.getElementById(id);

/** An element with attributes and children. Children that are not nodes become text: this is the only way data enters the page. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  for (const child of children.flat()) if (child !== undefined && child !== null) node.append(child instanceof Node ? child : String(child));
  return node;
}

const count = (n) => n.toLocaleString('en-US');
const percent = (rate) => (rate === null ? '–' : `${(rate * 100).toFixed(1)}%`);
const when = (iso) => (iso ? new Date(iso).toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' }) : '–');
const badge = (status) => el('span', { class: `badge status-${status}` }, status);
const cut = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** A table with a header row (columns from `numericFrom` on hold counts), or a line saying there is nothing to show. */
function table(headers, rows, empty, numericFrom = headers.length) {
  if (rows.length === 0) return el('p', { class: 'empty' }, empty);
  const head = headers.map((h, i) => el('th', { scope: 'col', class: i >= numericFrom ? 'num' : null }, h));
  return el('div', { class: 'scroll' }, el('table', {}, el('thead', {}, el('tr', {}, head)), el('tbody', {}, rows)));
}

/** Labelled figures; `data-figure` names the field of the API answer each one shows. */
function figures(entries) {
  return el(
    'dl',
    { class: 'figures' },
    entries.map(([field, label, value]) => el('div', { 'data-figure': field }, el('dt', {}, label), el('dd', {}, value))),
  );
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail ?? problem?.title ?? `HTTP ${status}`);
    this.status = status;
  }
}

async function api(path) {
  let response;
  try {
    response = await fetch(path, { headers: { authorization: `Bearer ${sessionStorage.getItem(KEY_STORAGE)}`, accept: 'application/json' } });
  } catch {
    throw new Error('the API did not answer; check that it is running');
  }
  const body = await response.json().catch(() => undefined);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

function showError(message) {
  $('error').hidden = !message;
  $('error').textContent = message ?? '';
}

function showSignedIn(signedIn) {
  $('sign-in').hidden = signedIn;
  $('session').hidden = !signedIn;
  $('content').hidden = !signedIn;
  if (!signedIn) for (const id of ['summary', 'automations', 'automation-body', 'messages', 'tasks']) $(id).replaceChildren();
}

function fail(err) {
  if (err instanceof ApiError && err.status === 401) {
    sessionStorage.removeItem(KEY_STORAGE);
    showSignedIn(false);
    showError(`This API key was not accepted: ${err.message}.`);
    $('api-key').focus();
    return;
  }
  showError(err instanceof ApiError ? `The API answered ${err.status}: ${err.message}.` : `Something went wrong: ${err.message}.`);
}

function renderSummary(stats) {
  $('window-days').title = `${when(stats.from)} to ${when(stats.to)}`;
  const channels = Object.entries(stats.messages.byChannel).map(([channel, m]) =>
    el(
      'tr',
      {},
      el('th', { scope: 'row' }, channel),
      MESSAGE_FIGURES.map(([field]) => el('td', { class: 'num' }, count(m[field]))),
    ),
  );
  $('summary').replaceChildren(
    el('h3', {}, 'Enrollments'),
    figures(ENROLLMENT_FIGURES.map(([field, label]) => [`enrollments.${field}`, label, count(stats.enrollments[field])])),
    el('h3', {}, 'Messages'),
    figures(MESSAGE_FIGURES.map(([field, label]) => [`messages.total.${field}`, label, count(stats.messages.total[field])])),
    table(['Channel', ...MESSAGE_FIGURES.map(([, label]) => label)], channels, 'No messages in this window.', 1),
    el('h3', {}, 'Rates'),
    figures(RATES.map(([field, label]) => [`rates.${field}`, label, percent(stats.rates[field])])),
  );
}

function renderAutomations(list, stats) {
  const figuresOf = new Map(stats.automations.map((a) => [a.id, a.enrollments]));
  const rows = list.items.map((a) => {
    const e = figuresOf.get(a.id) ?? { active: 0, started: 0, completed: 0, exited: 0, failed: 0 };
    return el(
      'tr',
      { 'data-automation': a.id },
      el('th', { scope: 'row' }, el('a', { href: `#automation/${encodeURIComponent(a.id)}` }, a.name)),
      el('td', {}, badge(a.status)),
      el('td', {}, a.trigger.type),
      el('td', {}, `v${a.currentVersion}`),
      ['active', 'started', 'completed', 'exited', 'failed'].map((field) => el('td', { class: 'num' }, count(e[field]))),
    );
  });
  $('automations').replaceChildren(
    table(['Automation', 'Status', 'Trigger', 'Version', 'Running now', 'Started', 'Completed', 'Exited', 'Failed'], rows, 'No automations yet.', 4),
    el('p', { class: 'hint', hidden: list.nextCursor ? null : '' }, `The newest ${list.items.length} automations are shown.`),
  );
}

function renderMessages(list, names) {
  const rows = list.items.map((m) =>
    el(
      'tr',
      {},
      el('td', {}, when(m.createdAt)),
      el('td', {}, m.channel),
      el('td', {}, m.to),
      el('td', { class: 'text' }, cut(m.subject ?? m.body ?? '', 140)),
      el('td', {}, badge(m.status), m.error ? el('div', { class: 'error-text' }, m.error) : null),
      el('td', {}, m.automationId ? `${names.get(m.automationId) ?? m.automationId} · ${m.stepId ?? ''}` : m.test ? 'test send' : '–'),
    ),
  );
  $('messages').replaceChildren(table(['Created', 'Channel', 'To', 'Subject or text', 'Status', 'Automation · step'], rows, 'No messages yet.'));
}

function renderTasks(list) {
  const rows = list.items.map((t) =>
    el(
      'tr',
      {},
      el('td', {}, when(t.dueAt)),
      el('td', { class: 'text' }, t.title),
      el('td', {}, t.recordId ?? '–'),
      el('td', {}, t.assignee ?? 'unassigned'),
      el('td', {}, badge(t.priority)),
      el('td', {}, when(t.createdAt)),
    ),
  );
  $('tasks').replaceChildren(table(['Due', 'Task', 'Record', 'Assignee', 'Priority', 'Created'], rows, 'No open tasks.'));
}

/** A link to the enrollment's workflow in the Temporal Web UI: its list filtered to the workflow id (any run). */
function workflowLink(workflowId) {
  const query = `WorkflowId = "${workflowId.replace(/["\\]/g, '\\$&')}"`;
  return el('a', { href: `${WORKFLOWS_URL}?query=${encodeURIComponent(query)}`, target: '_blank', rel: 'noopener noreferrer' }, 'Temporal');
}

function renderAutomation(automation, stats, enrollments) {
  // Steps in the order of the current version, then any only older versions still hold.
  const stepTypes = new Map(automation.definition.steps.map((s) => [s.id, s.type]));
  const stepIds = [...new Set([...stepTypes.keys(), ...Object.keys(stats.enrollments.byStep), ...Object.keys(stats.messages.byStep)])];
  const none = { waiting: 0, paused: 0 };
  const steps = stepIds.map((id) => {
    const now = stats.enrollments.byStep[id] ?? none;
    const m = stats.messages.byStep[id];
    return el(
      'tr',
      { 'data-step': id },
      el('th', { scope: 'row' }, id),
      el('td', {}, stepTypes.get(id) ?? '(older version)'),
      el('td', { class: 'num', 'data-field': 'waiting' }, count(now.waiting)),
      el('td', { class: 'num', 'data-field': 'paused' }, count(now.paused)),
      MESSAGE_FIGURES.map(([field]) => el('td', { class: 'num', 'data-field': field }, m ? count(m[field]) : '')),
    );
  });
  const variants = Object.entries(stats.messages.byVariant).map(([letter, m]) =>
    el(
      'tr',
      { 'data-variant': letter },
      el('th', { scope: 'row' }, letter),
      MESSAGE_FIGURES.map(([field]) => el('td', { class: 'num', 'data-field': field }, count(m[field]))),
    ),
  );
  const reasons = Object.entries(stats.enrollments.exitedByReason).map(([reason, n]) =>
    el('tr', { 'data-reason': reason }, el('th', { scope: 'row' }, reason), el('td', { class: 'num' }, count(n))),
  );
  const recent = enrollments.items.map((e) =>
    el(
      'tr',
      { 'data-enrollment': e.id },
      el('th', { scope: 'row' }, e.recordId, e.seq > 1 ? ` (#${e.seq})` : ''),
      el('td', {}, badge(e.status)),
      el('td', {}, e.currentStep ?? '–'),
      el('td', {}, e.exitReason ?? (e.converted ? 'goal' : '–')),
      el('td', {}, e.variant ?? '–'),
      el('td', {}, when(e.startedAt)),
      el('td', {}, when(e.endedAt)),
      el('td', {}, workflowLink(e.workflowId)),
    ),
  );

  $('automation-title').replaceChildren(automation.name, ' ', badge(automation.status));
  $('automation-body').replaceChildren(
    el(
      'p',
      { class: 'hint' },
      `${automation.id} · version ${automation.currentVersion} · trigger ${automation.trigger.type} · `,
      el('a', { href: '#' }, 'close'),
    ),
    figures(ENROLLMENT_FIGURES.map(([field, label]) => [`enrollments.${field}`, label, count(stats.enrollments[field])])),
    figures(RATES.map(([field, label]) => [`rates.${field}`, label, percent(stats.rates[field])])),
    el('h3', {}, 'Steps: enrollments in each step now, messages per step'),
    table(['Step', 'Type', 'Waiting', 'Paused', ...MESSAGE_FIGURES.map(([, label]) => label)], steps, 'No steps.', 2),
    el('h3', {}, 'A/B variants'),
    table(['Variant', ...MESSAGE_FIGURES.map(([, label]) => label)], variants, 'No A/B messages in this window.', 1),
    el('h3', {}, 'Exited by reason'),
    table(['Reason', 'Enrollments'], reasons, 'No exits in this window.', 1),
    el('h3', {}, 'Recent enrollments'),
    table(['Record', 'Status', 'Current step', 'Exit reason', 'Variant', 'Started', 'Ended', 'Workflow'], recent, 'No enrollments yet.'),
  );
}

/** The automation named by the address (#automation/<id>), so a reload or a shared link shows it again. */
const selectedAutomation = () => {
  const match = /^#automation\/(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : undefined;
};

// A newer load (or selection) supersedes answers still on their way.
let loads = 0;
let selections = 0;
/** `from=&to=` of the statistics, fixed at each load so that the workspace's and the automation's figures cover the same window. */
let statsWindow = '';

function windowQuery() {
  const to = new Date();
  const from = new Date(to.getTime() - Number($('window-days').value) * 86_400_000);
  return `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`;
}

async function showAutomation() {
  const id = selectedAutomation();
  const mine = ++selections;
  if (!id) {
    $('automation').hidden = true;
    return;
  }
  const path = `/v1/automations/${encodeURIComponent(id)}`;
  const [automation, stats, enrollments] = await Promise.all([api(path), api(`${path}/stats?${statsWindow}`), api(`${path}/enrollments?limit=${RECENT}`)]);
  if (mine !== selections) return;
  renderAutomation(automation, stats, enrollments);
  $('automation').hidden = false;
}

async function load() {
  const mine = ++loads;
  statsWindow = windowQuery();
  const [stats, automations, messages, tasks] = await Promise.all([
    api(`/v1/stats?${statsWindow}`),
    api('/v1/automations?limit=200'),
    api(`/v1/messages?limit=${RECENT}`),
    api(`/v1/tasks?status=open&limit=${RECENT}`),
  ]);
  if (mine !== loads) return;
  showError(undefined);
  showSignedIn(true);
  renderSummary(stats);
  renderAutomations(automations, stats);
  renderMessages(messages, new Map(automations.items.map((a) => [a.id, a.name])));
  renderTasks(tasks);
  await showAutomation();
}

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORAGE, $('api-key').value.trim());
  $('api-key').value = '';
  load().catch(fail);
});
$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  showError(undefined);
  showSignedIn(false);
});
$('refresh').addEventListener('click', () => {
  load().catch(fail);
});
$('window-days').addEventListener('change', () => {
  load().catch(fail);
});
window.addEventListener('hashchange', () => {
  showAutomation().catch(fail);
});

if (sessionStorage.getItem(KEY_STORAGE)) load().catch(fail);
