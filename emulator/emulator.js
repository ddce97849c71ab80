// The Teams host emulator: the host side of the teams-js protocol (see
// shared/teams-sdk-protocol.md) around an iframe of the configuration page, the channel's
// configured connector instances, a message log and the webhook inboxes.
// Everything a user or the page typed is shown with textContent, never as HTML, and nothing
// here is inline (script-src/style-src 'self').

import {
  loadInstances, saveInstances, loadContext, saveContext, guid, mintWebhookUrl, inboxPath, maskSecrets, httpUrl,
} from './store.js';
import { el, renderPost } from './cards.js';

const INBOX_POLL_MS = 2000;

const $ = (sel) => document.querySelector(sel);

// ---- where the configuration page is ----

/**
 * The configuration page: `/` on this origin, or `?page=<url>` for a page deployed elsewhere.
 * Only http(s) is accepted: a `javascript:` src would run in this origin.
 */
const params = new URLSearchParams(location.search);
const pageUrl = httpUrl(params.get('page') || '/') ?? new URL('/', location.href);

/**
 * How long Teams waits for the page to answer a save or remove event: 30 s, or
 * `?answerTimeout=<seconds>` (1 to 300) to see the time-out sooner.
 */
const ANSWER_TIMEOUT_S = (() => {
  const n = Number(params.get('answerTimeout'));
  return Number.isInteger(n) && n >= 1 && n <= 300 ? n : 30;
})();

let instances = loadInstances();
const context = loadContext();
let connector = { name: 'Connector', shortDescription: '', accentColor: '#5B5FC7' };

/**
 * The dialog's current session: what Teams knows while the page is open. `origin` is the
 * origin of the URL loaded in the iframe; it is where we post and the only origin we accept.
 */
let session = null;
/** The last settings object the page passed to setSettings (survives the dialog, for tests). */
let lastSettings = null;
const logEntries = [];

// ---- the message log ----

/**
 * Logs one message. `kind` is request (page → host), response (host → page, answering a
 * request; `func` is the request's func), event (host → page) or note (the emulator itself).
 * Webhook URLs and tokens are masked in the visible log; `window.emulator.log()` keeps the
 * raw args because tests need them.
 */
function log(dir, func, args, kind) {
  const time = new Date();
  logEntries.push({ dir, func, args: args ?? [], kind, time: time.toISOString() });
  const arrow = dir === 'in' ? '→' : '←';
  const who = dir === 'in' ? 'page → host' : kind === 'response' ? 'host → page (reply)' : 'host → page';
  const li = el('li', { 'data-func': func, 'data-dir': dir, 'data-kind': kind, class: `entry ${dir} ${kind}` },
    el('span', { class: 'dir', title: who }, el('span', { 'aria-hidden': 'true', text: arrow }), el('span', { class: 'sr-only', text: who })),
    el('span', { class: 'func', text: func }),
    el('time', { class: 'time', datetime: time.toISOString(), text: time.toLocaleTimeString() }),
    el('span', { class: 'args', text: maskSecrets(JSON.stringify(args ?? [])) }));
  $('#host-log').prepend(li);
}

$('#log-clear').addEventListener('click', () => { logEntries.length = 0; $('#host-log').replaceChildren(); });

// ---- talking to the page ----

function frameWindow() { return $('#host-frame').contentWindow; }

function post(msg, func, kind) {
  if (!session) return;
  log('out', func, msg.args, kind);
  frameWindow()?.postMessage(msg, session.origin);
}

/** Answers a request: the SDK matches answers by the numeric `id` (and `uuidAsString`). */
function respond(req, args) { post({ id: req.id, uuidAsString: req.uuidAsString, args }, req.func, 'response'); }

/** Host-initiated events carry no id. */
function emit(func, args) { post({ func, args }, func, 'event'); }

/** The flat legacy context the SDK maps to app.getContext()'s v2 shape. */
function legacyContext() {
  const { tokenVariant: _unused, ...ctx } = context;
  return {
    ...ctx,
    frameContext: session.frameContext,
    entityId: session.instance?.entityId ?? '',
    appSessionId: session.appSessionId, sessionId: session.appSessionId,
    isFullScreen: false, ringId: 'general', userLicenseType: 'Unknown', teamType: 0,
  };
}

/** getSettings: empty ids for a new connection, the stored ones when configuring or removing. */
function currentSettings() {
  const i = session.instance;
  return {
    entityId: i?.entityId ?? '', configName: i?.configName ?? '', contentUrl: i?.contentUrl ?? '',
    webhookUrl: session.webhookUrl, appType: 'Connector', userObjectId: context.userObjectId,
  };
}

const RUNTIME = JSON.stringify({ apiVersion: 4, supports: { pages: { config: {} }, appInitialization: {}, authentication: {} } });

/** What the host does with each func the page sends; a request not listed gets an error. */
const handlers = {
  initialize: (req) => {
    session.initialized = true;
    respond(req, [session.frameContext, context.hostClientType, RUNTIME, '2.0.0']);
    setStatus(`Connected (${session.frameContext})`);
    updateButtons();
  },
  getContext: (req) => respond(req, [legacyContext()]),
  'settings.getSettings': (req) => respond(req, [currentSettings()]),
  'settings.setSettings': (req) => {
    const s = req.args?.[0];
    session.pendingSettings = s && typeof s === 'object' ? s : null;
    lastSettings = session.pendingSettings;
    respond(req, [true]);
  },
  'settings.setValidityState': (req) => { session.validity = req.args?.[0] === true; updateButtons(); },
  registerHandler: (req) => { session.handlers.add(String(req.args?.[0])); },
  'appInitialization.success': () => { session.loaded = true; setStatus('Page loaded'); },
  'appInitialization.appLoaded': () => setStatus('Page loaded (still initializing)'),
  // args: [reason, message]
  'appInitialization.failure': (req) => showError(`the page reported a load failure: ${req.args?.filter(Boolean).join(': ') || 'no reason given'}`),
  'appInitialization.expectedFailure': (req) => showError(`the page reported an expected failure: ${req.args?.filter(Boolean).join(': ') || 'no reason given'}`),
  'authentication.getAuthToken': (req) => issueToken(req),
  'settings.save.success': () => finishSave(),
  'settings.save.failure': (req) => failEvent('save', req.args?.[0]),
  'settings.remove.success': () => finishRemove(),
  'settings.remove.failure': (req) => failEvent('remove', req.args?.[0]),
};

window.addEventListener('message', (event) => {
  // Only the framed page may talk to us, and only from the origin we loaded it from.
  if (!session || event.source !== frameWindow() || event.origin !== session.origin) return;
  const msg = event.data;
  if (!msg || typeof msg !== 'object' || typeof msg.func !== 'string') return;
  log('in', msg.func, msg.args, typeof msg.id === 'number' ? 'request' : 'event');
  if (Object.hasOwn(handlers, msg.func)) handlers[msg.func](msg);
  else if (typeof msg.id === 'number') respond(msg, [false, `not supported by the emulator: ${msg.func}`]);
});

/**
 * getAuthToken: a token signed by the server's dev identity provider (`--dev-sso`), in the
 * variant chosen in the context panel. Without it the page is told SSO is not configured.
 */
async function issueToken(req) {
  const q = new URLSearchParams({ tid: context.tid, oid: context.userObjectId, variant: context.tokenVariant });
  const current = session;
  try {
    const res = await fetch(`/emulator/idp/token?${q}`);
    if (res.status === 404) throw new Error('sso is not configured in this emulator');
    if (!res.ok) throw new Error(`sign-in failed: the identity provider answered ${res.status}`);
    const token = (await res.json()).token;
    if (session === current) respond(req, [true, token]);
  } catch (e) {
    if (session === current) respond(req, [false, e.message]);
  }
}

// ---- the dialog ----

let returnFocus = null;

/** Which URL to frame: the stored contentUrl when there is a usable one, else the page. */
function frameUrl(instance) {
  const stored = instance?.contentUrl ? httpUrl(instance.contentUrl) : null;
  if (instance?.contentUrl && !stored) log('out', 'emulator', [`stored contentUrl is not http(s); loading ${pageUrl.href}`], 'note');
  return stored ?? pageUrl;
}

/** Opens the dialog for `mode` new | configure | remove. */
function openDialog(mode, instance) {
  if (session?.waiting) clearTimeout(session.waiting);
  const url = frameUrl(instance);
  session = {
    mode, instance, origin: url.origin, frameContext: mode === 'remove' ? 'remove' : 'settings',
    // Teams mints the webhook when the dialog opens for a new connection.
    webhookUrl: instance?.webhookUrl ?? mintWebhookUrl(context), appSessionId: guid(),
    initialized: false, loaded: false, validity: false, handlers: new Set(), pendingSettings: null, waiting: null, done: false,
  };
  $('#dialog-title').textContent = mode === 'remove' ? `Remove ${connector.name}` : connector.name;
  $('#dialog-subtitle').textContent = mode === 'new' ? connector.shortDescription
    : `${mode === 'remove' ? 'Removing' : 'Configuring'} "${instance.configName || instance.entityId}"`;
  hideError();
  setStatus('Loading the page…');
  $('#host-remove').hidden = mode !== 'remove';
  $('#host-save').hidden = mode === 'remove';
  updateButtons();
  returnFocus = document.activeElement;
  $('#host-frame').src = url.href;
  $('#host-dialog').hidden = false;
  $('#host-cancel').focus();
}

function closeDialog() {
  if (session?.waiting) clearTimeout(session.waiting);
  session = null;
  $('#host-dialog').hidden = true;
  $('#host-frame').src = 'about:blank';
  if (returnFocus?.isConnected) returnFocus.focus();
  returnFocus = null;
}

/** Save follows the page's last setValidityState; Remove needs only a connected page. */
function updateButtons() {
  $('#host-save').disabled = !(session && session.initialized && session.validity);
  $('#host-remove').disabled = !(session && session.initialized);
}

function setStatus(text) { $('#host-status').textContent = text; }
function showError(text) { const e = $('#host-error'); e.textContent = text; e.title = text; e.hidden = false; }
function hideError() { const e = $('#host-error'); e.textContent = ''; e.title = ''; e.hidden = true; }

/** After sending save/remove: Teams gives the page 30 s to answer. */
function startWaiting(what) {
  hideError();
  if (session.waiting) clearTimeout(session.waiting);
  setStatus(what === 'save' ? 'Saving…' : 'Removing…');
  const current = session;
  session.waiting = setTimeout(() => {
    if (session !== current) return;
    session.waiting = null;
    setStatus('No answer');
    showError(`the page did not answer the ${what} within ${ANSWER_TIMEOUT_S} seconds`);
  }, ANSWER_TIMEOUT_S * 1000);
}

function failEvent(what, reason) {
  if (!session) return;
  clearTimeout(session.waiting);
  session.waiting = null;
  setStatus(`${what === 'save' ? 'Save' : 'Remove'} failed`);
  showError(typeof reason === 'string' && reason ? reason : `the page reported a failed ${what} without a reason`);
}

/** save.success: store the instance from the page's last setSettings, then close. */
function finishSave() {
  if (!session || session.done || session.mode === 'remove') return;
  clearTimeout(session.waiting);
  session.waiting = null;
  const s = session.pendingSettings;
  if (!s) { showError('the page did not call setSettings'); setStatus('Not saved'); return; }
  if (!s.entityId) { showError('the page called setSettings without an entityId'); setStatus('Not saved'); return; }
  session.done = true;
  const record = {
    entityId: String(s.entityId), configName: String(s.configName ?? ''), contentUrl: String(s.contentUrl ?? ''),
    webhookUrl: session.webhookUrl, created: session.instance?.created ?? new Date().toISOString(),
  };
  // One instance per entityId and per webhook: re-saving replaces, in place when configuring.
  const at = instances.findIndex((i) => i.entityId === record.entityId || i.webhookUrl === record.webhookUrl);
  instances = instances.filter((i) => i.entityId !== record.entityId && i.webhookUrl !== record.webhookUrl);
  instances.splice(at < 0 ? instances.length : Math.min(at, instances.length), 0, record);
  saveInstances(instances);
  closeDialog();
  renderInstances();
  if (shownInbox && shownInbox.webhookUrl === record.webhookUrl) showInbox(record);
}

function finishRemove() {
  if (!session || session.done || session.mode !== 'remove') return;
  session.done = true;
  const gone = session.instance;
  instances = instances.filter((i) => i.entityId !== gone.entityId);
  saveInstances(instances);
  closeDialog();
  renderInstances();
  if (shownInbox?.webhookUrl === gone.webhookUrl) showInbox(null);
}

// Save stays clickable while waiting, as a double click in Teams can reach the page twice:
// the page must cope with it (an end-to-end test clicks twice on purpose).
$('#host-save').addEventListener('click', () => {
  if (!session) return;
  startWaiting('save');
  // Teams hands the page the webhook URL again with the save event.
  emit('settings.save', [{ webhookUrl: session.webhookUrl }]);
});
$('#host-remove').addEventListener('click', () => {
  if (!session) return;
  startWaiting('remove');
  emit('settings.remove', []);
});
$('#host-cancel').addEventListener('click', closeDialog);
$('#add-connector').addEventListener('click', () => openDialog('new', null));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && session) { e.preventDefault(); closeDialog(); }
});

/**
 * The connector's icon; a square in its accent colour when the icon cannot be loaded (a page
 * hosted from elsewhere, or a server without the icon). The image may have failed before this
 * module ran, so the current state is checked as well as the error event.
 */
function iconFallback() {
  const img = $('#dialog-icon');
  if (!(img instanceof HTMLImageElement)) return;
  const square = el('span', { id: 'dialog-icon', class: 'app-icon', 'aria-hidden': 'true' });
  accentSquare(square);
  img.replaceWith(square);
}
function accentSquare(node) {
  if (/^#[0-9a-fA-F]{3,6}$/.test(connector.accentColor ?? '')) node.style.setProperty('background', connector.accentColor);
}
{
  const img = $('#dialog-icon');
  img.addEventListener('error', iconFallback, { once: true });
  if (img.complete && img.naturalWidth === 0) iconFallback();
}

// ---- theme and context ----

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $('#host-theme').value = theme;
}
$('#host-theme').addEventListener('change', (e) => {
  context.theme = e.target.value;
  saveContext(context);
  applyTheme(context.theme);
  if (session?.initialized) emit('themeChange', [context.theme]);
});

/** [key, label, options?, hint?]: the values getContext reports and webhook URLs are minted from. */
const contextFields = [
  ['locale', 'Locale'], ['tid', 'Tenant id'], ['userObjectId', 'User object id'],
  ['userPrincipalName', 'User principal name'], ['teamId', 'Team id'], ['teamName', 'Team name'],
  ['channelId', 'Channel id'], ['channelName', 'Channel name'],
  ['hostClientType', 'Host client type', ['web', 'desktop', 'android', 'ios']],
  ['tokenVariant', 'Sign-in token (getAuthToken)', ['valid', 'expired', 'not-yet-valid', 'wrong-audience', 'wrong-issuer', 'other-tenant', 'bad-signature']],
];

function renderContextForm() {
  const form = $('#context-form');
  form.replaceChildren();
  for (const [key, label, options] of contextFields) {
    const input = options
      ? el('select', { name: key }, ...options.map((o) => el('option', { value: o, text: o })))
      : el('input', { name: key, type: 'text', spellcheck: 'false', autocomplete: 'off' });
    input.value = context[key];
    input.addEventListener('change', () => {
      context[key] = input.value.trim();
      saveContext(context);
      renderChannel();
    });
    form.append(el('label', {}, label, input));
  }
  form.addEventListener('submit', (e) => e.preventDefault());
}

function renderChannel() {
  $('#team-name').textContent = context.teamName;
  $('#channel-name').textContent = `# ${context.channelName}`;
}

// ---- instances ----

function renderInstances() {
  const list = $('#instances');
  list.replaceChildren();
  for (const inst of instances) {
    const button = (action, text, label) => {
      const b = el('button', { class: 'button', type: 'button', 'data-action': action, 'aria-label': `${label} ${inst.configName || inst.entityId}`, text });
      b.addEventListener('click', () => {
        if (action === 'inbox') showInbox(inst); else openDialog(action, inst);
      });
      return b;
    };
    const created = new Date(inst.created);
    const li = el('li', { 'data-entity-id': inst.entityId, 'aria-current': shownInbox?.entityId === inst.entityId ? 'true' : null },
      el('span', { class: 'name', text: inst.configName || inst.entityId }),
      el('span', { class: 'created', text: Number.isNaN(created.getTime()) ? '' : `added ${created.toLocaleString()}` }),
      el('span', { class: 'actions' },
        button('configure', 'Configure', 'Configure'), button('remove', 'Remove', 'Remove'), button('inbox', 'Inbox', 'Inbox of')));
    list.append(li);
  }
  $('#instances-empty').hidden = instances.length > 0;
}

// ---- webhook inbox ----

/** The instance whose inbox is shown, or null. */
let shownInbox = null;
let pollTimer = null;
/** A signature of what is rendered, so an unchanged inbox is not rebuilt (keeps scroll and focus). */
let rendered = '';
/** True while a mode change is on its way, so a poll does not flip the select back. */
let modePending = false;

function showInbox(instance) {
  shownInbox = instance;
  clearTimeout(pollTimer);
  rendered = '';
  $('#inbox').replaceChildren();
  $('#inbox-hint').hidden = !!instance;
  $('#inbox-mode').disabled = !instance || !inboxPath(instance.webhookUrl);
  $('#inbox-title').textContent = instance ? `Channel posts · ${instance.configName || instance.entityId}` : 'Channel posts';
  $('#inbox-status').textContent = '';
  renderInstances();
  if (!instance) return;
  if (!inboxPath(instance.webhookUrl)) {
    $('#inbox-status').textContent = 'This webhook is not the emulator\'s inbox: its posts cannot be shown here.';
    return;
  }
  pollInbox();
}

/** Polls every 2 s while an inbox is shown and the tab is visible. */
async function pollInbox() {
  clearTimeout(pollTimer);
  const current = shownInbox;
  const path = current && inboxPath(current.webhookUrl);
  if (!path) return;
  if (!document.hidden) {
    try {
      const res = await fetch(`/emulator/api/inbox/${path}`, { cache: 'no-store' });
      if (!res.ok) throw new Error(`the inbox answered ${res.status}`);
      const data = await res.json();
      if (current !== shownInbox) return;
      const messages = Array.isArray(data.messages) ? data.messages : [];
      if (!modePending && data.mode) $('#inbox-mode').value = data.mode;
      const last = messages.at(-1);
      const signature = `${messages.length}|${last?.receivedAt ?? ''}|${last?.headers?.['idempotency-key'] ?? ''}`;
      if (signature !== rendered) {
        rendered = signature;
        $('#inbox').replaceChildren(...messages.slice().reverse().map(renderPost));
      }
      $('#inbox-status').textContent = `${messages.length} post${messages.length === 1 ? '' : 's'} · webhook answers: ${data.mode ?? '?'}`;
    } catch (e) {
      // The server may be restarting; the next poll tries again.
      if (current === shownInbox) $('#inbox-status').textContent = `Inbox not reachable (${e.message}); retrying…`;
    }
  }
  if (current === shownInbox) pollTimer = setTimeout(pollInbox, INBOX_POLL_MS);
}
document.addEventListener('visibilitychange', () => { if (!document.hidden && shownInbox) pollInbox(); });

$('#inbox-mode').addEventListener('change', async (e) => {
  const path = shownInbox && inboxPath(shownInbox.webhookUrl);
  if (!path) return;
  modePending = true;
  try {
    const res = await fetch(`/emulator/api/inbox-mode/${path}`, {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: e.target.value }),
    });
    if (!res.ok) throw new Error(`answered ${res.status}`);
  } catch (err) {
    $('#inbox-status').textContent = `Could not change the webhook's answer (${err.message})`;
  } finally {
    modePending = false;
  }
});

// ---- start ----

/** Read-only hooks for automated tests (copies, so a test cannot change the emulator). */
window.emulator = Object.freeze({
  instances: () => structuredClone(instances),
  log: () => logEntries.map(({ dir, func, args, kind, time }) => structuredClone({ dir, func, args, kind, time })),
  lastSettings: () => structuredClone(lastSettings),
  validity: () => session?.validity ?? false,
  pageUrl: () => pageUrl.href,
});

applyTheme(context.theme);
renderChannel();
renderContextForm();
renderInstances();
showInbox(null);
if (params.get('page') && pageUrl.origin !== location.origin) {
  log('out', 'emulator', [`hosting ${pageUrl.href}: the page must list ${location.origin} in app.initialize's validMessageOrigins`], 'note');
}
fetch('/emulator/api/connector').then((r) => (r.ok ? r.json() : null)).then((c) => {
  if (!c || typeof c !== 'object') return;
  connector = { ...connector, ...c };
  document.title = `${connector.name} · Teams host emulator`;
  if (!session) $('#dialog-title').textContent = connector.name;
  if (!($('#dialog-icon') instanceof HTMLImageElement)) accentSquare($('#dialog-icon'));
}).catch(() => { /* no server API (a static check): keep the defaults */ });
