// The Teams host emulator: the host side of the teams-js protocol (docs/development.md,
// "The emulator" and "The messages, as the emulator implements them") around the frames of
// the page — the configuration dialog of a connector or of a configurable tab, and an open
// tab's content — the channel's apps, its Workflows webhooks, a message log and the webhook inboxes.
// Everything a user or the page typed is shown with textContent, never as HTML, and nothing
// here is inline (script-src/style-src 'self').

import {
  loadInstances, saveInstances, loadContext, saveContext, loadWorkflows, saveWorkflows, guid, mintWebhookUrl,
  mintWorkflowsUrl, WORKFLOWS_SHAPES, inForm, webhookIds, inboxPath, maskSecrets, httpUrl, EMULATOR_SETTINGS,
} from './store.js';
import { el, renderPost, loadHostConfig } from './cards.js';

// Teams' host config for the Adaptive Cards renderer, before the first card is shown.
const hostConfigReady = loadHostConfig();

const INBOX_POLL_MS = 2000;

const $ = (sel) => document.querySelector(sel);

// ---- where the configuration page is ----

/**
 * The configuration page (the manifest's configurationUrl): `/` on this origin, or
 * `?page=<url>` for a page deployed elsewhere. Only http(s) is accepted: a `javascript:` src
 * would run in this origin.
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
let workflows = loadWorkflows();
const context = loadContext();
let connector = { name: 'Connector', shortDescription: '', accentColor: '#5B5FC7' };

/**
 * A session is one framed page talking teams-js to us: what Teams knows while it is open.
 * `origin` is the origin of the URL loaded in the frame; it is where we post and the only
 * origin we accept. `dialog` is the configuration (or remove) dialog, `content` the open tab.
 */
let dialog = null;
let content = null;
/** The last settings object a page passed to setSettings (survives the dialog, for tests). */
let lastSettings = null;
const logEntries = [];

function newSession(frame, url, fields) {
  return {
    frame, origin: url.origin, appSessionId: guid(), initialized: false, loaded: false, validity: false,
    handlers: new Set(), pendingSettings: null, waiting: null, done: false, ...fields,
  };
}

// ---- the message log ----

/**
 * Logs one message. `kind` is request (page → host), response (host → page, answering a
 * request; `func` is the request's func), event (host → page) or note (the emulator itself);
 * `frame` says which page (dialog or tab). Webhook URLs, tokens and edit keys are masked in
 * the visible log; `window.emulator.log()` keeps the raw args because tests need them.
 */
function log(dir, func, args, kind, frame = 'dialog') {
  const time = new Date();
  logEntries.push({ dir, func, args: args ?? [], kind, frame, time: time.toISOString() });
  const arrow = dir === 'in' ? '→' : '←';
  const who = dir === 'in' ? `${frame} page → host` : kind === 'response' ? `host → ${frame} page (reply)` : `host → ${frame} page`;
  const li = el('li', { 'data-func': func, 'data-dir': dir, 'data-kind': kind, 'data-frame': frame, class: `entry ${dir} ${kind}` },
    el('span', { class: 'dir', title: who }, el('span', { 'aria-hidden': 'true', text: arrow }), el('span', { class: 'sr-only', text: who })),
    el('span', { class: 'func', text: func }),
    frame !== 'dialog' ? el('span', { class: 'frame-tag', text: frame }) : null,
    el('time', { class: 'time', datetime: time.toISOString(), text: time.toLocaleTimeString() }),
    el('span', { class: 'args', text: maskSecrets(JSON.stringify(args ?? [])) }));
  $('#host-log').prepend(li);
}
const note = (text) => log('out', 'emulator', [text], 'note');

$('#log-clear').addEventListener('click', () => { logEntries.length = 0; $('#host-log').replaceChildren(); });

// ---- talking to the pages ----

const frameName = (s) => (s === content ? 'tab' : 'dialog');

function post(s, msg, func, kind) {
  if (!s) return;
  log('out', func, msg.args, kind, frameName(s));
  s.frame.contentWindow?.postMessage(msg, s.origin);
}

/** Answers a request: the SDK matches answers by the numeric `id` (and `uuidAsString`). */
function respond(s, req, args) { post(s, { id: req.id, uuidAsString: req.uuidAsString, args }, req.func, 'response'); }

/** Host-initiated events carry no id. */
function emit(s, func, args) { post(s, { func, args }, func, 'event'); }

/** The flat legacy context the SDK maps to app.getContext()'s v2 shape. */
function legacyContext(s) {
  const ctx = Object.fromEntries(Object.entries(context).filter(([k]) => !EMULATOR_SETTINGS.includes(k)));
  return {
    ...ctx,
    frameContext: s.frameContext,
    entityId: s.instance?.entityId ?? '',
    appSessionId: s.appSessionId, sessionId: s.appSessionId,
    isFullScreen: false, ringId: 'general', userLicenseType: 'Unknown', teamType: 0,
  };
}

/**
 * getSettings. A connector gets the webhook URL Teams minted; a tab gets only what its page
 * saved (no webhookUrl, appType or userObjectId), empty while it is being added.
 */
function currentSettings(s) {
  const i = s.instance;
  if (s.kind === 'tab') {
    return {
      entityId: i?.entityId ?? '', contentUrl: i?.contentUrl ?? '', websiteUrl: i?.websiteUrl ?? '',
      suggestedDisplayName: i?.name ?? '', removeUrl: i?.removeUrl ?? '',
    };
  }
  return {
    entityId: i?.entityId ?? '', configName: i?.configName ?? '', contentUrl: i?.contentUrl ?? '',
    webhookUrl: s.webhookUrl, appType: 'Connector', userObjectId: context.userObjectId,
  };
}

const RUNTIME = JSON.stringify({ apiVersion: 4, supports: { pages: { config: {}, tabs: {} }, appInitialization: {}, authentication: {} } });

/** What the host does with each func a page sends; a request not listed gets an error. */
const handlers = {
  initialize: (s, req) => {
    s.initialized = true;
    respond(s, req, [s.frameContext, context.hostClientType, RUNTIME, '2.0.0']);
    if (s === dialog) {
      setStatus(`Connected (${s.frameContext})`);
      updateButtons();
    }
  },
  getContext: (s, req) => respond(s, req, [legacyContext(s)]),
  'settings.getSettings': (s, req) => respond(s, req, [currentSettings(s)]),
  'settings.setSettings': (s, req) => {
    if (s !== dialog) { respond(s, req, [false, 'setSettings is allowed in the settings frame context only']); return; }
    const v = req.args?.[0];
    s.pendingSettings = v && typeof v === 'object' ? v : null;
    lastSettings = s.pendingSettings;
    respond(s, req, [true]);
  },
  'settings.setValidityState': (s, req) => { if (s === dialog) { s.validity = req.args?.[0] === true; updateButtons(); } },
  registerHandler: (s, req) => { s.handlers.add(String(req.args?.[0])); },
  'appInitialization.success': (s) => { s.loaded = true; if (s === dialog) setStatus('Page loaded'); },
  'appInitialization.appLoaded': (s) => { if (s === dialog) setStatus('Page loaded (still initializing)'); },
  // args: [reason, message]
  'appInitialization.failure': (s, req) => showError(`the page reported a load failure: ${req.args?.filter(Boolean).join(': ') || 'no reason given'}`),
  'appInitialization.expectedFailure': (s, req) => showError(`the page reported an expected failure: ${req.args?.filter(Boolean).join(': ') || 'no reason given'}`),
  'authentication.getAuthToken': (s, req) => issueToken(s, req),
  'authentication.authenticate': (s, req) => openSignInWindow(s, req),
  'settings.save.success': (s) => { if (s === dialog) finishSave(); },
  'settings.save.failure': (s, req) => { if (s === dialog) failEvent('save', req.args?.[0]); },
  'settings.remove.success': (s) => { if (s === dialog) finishRemove(); },
  'settings.remove.failure': (s, req) => { if (s === dialog) failEvent('remove', req.args?.[0]); },
};

window.addEventListener('message', (event) => {
  if (signIn && event.source === signIn.win) { fromSignInWindow(event); return; }
  // Only a framed page may talk to us, and only from the origin we loaded it from.
  const s = [dialog, content].find((x) => x && event.source === x.frame.contentWindow && event.origin === x.origin);
  if (!s) return;
  const msg = event.data;
  if (!msg || typeof msg !== 'object' || typeof msg.func !== 'string') return;
  log('in', msg.func, msg.args, typeof msg.id === 'number' ? 'request' : 'event', frameName(s));
  if (Object.hasOwn(handlers, msg.func)) handlers[msg.func](s, msg);
  else if (typeof msg.id === 'number') respond(s, msg, [false, `not supported by the emulator: ${msg.func}`]);
});

// ---- authentication.authenticate: the sign-in window ----

/**
 * The open sign-in window: the frame's pending `authentication.authenticate` request
 * (`s`, `req`), the window, and the page origin its teams-js may speak from. teams-js 2.58
 * sends `authentication.authenticate` to the host for every host client type, so the host
 * opens the window, as Teams does (docs/development.md, "The sign-in window").
 */
let signIn = null;

function openSignInWindow(s, req) {
  const [url, width, height] = req.args ?? [];
  const target = httpUrl(url);
  // The flow must start and end on the page's origin (teams-js's own rule).
  if (!target || target.origin !== s.origin) {
    respond(s, req, [false, `the sign-in window must open on the page's origin ${s.origin}: ${url}`]);
    return;
  }
  // One window at a time: a second request ends the first as a closed window would.
  if (signIn) endSignIn([false, 'CancelledByUser']);
  // Never wider or taller than the host's window, centred on it, as Teams' web client does.
  const w = Math.max(200, Math.min(Number(width) || 600, window.outerWidth - 100));
  const h = Math.max(200, Math.min(Number(height) || 400, window.outerHeight - 100));
  const left = window.screenX + (window.outerWidth - w) / 2;
  const top = window.screenY + (window.outerHeight - h) / 2;
  const win = window.open(target.href, '_blank', `popup,width=${w},height=${h},left=${left},top=${top}`);
  if (!win) { respond(s, req, [false, 'FailedToOpenWindow']); return; }
  note(`sign-in window opened (host client type ${context.hostClientType}): ${target.href}`);
  signIn = {
    s, req, win, origin: target.origin,
    // Closing the window before notifySuccess/notifyFailure is Teams' CancelledByUser.
    monitor: setInterval(() => { if (signIn?.win === win && win.closed) endSignIn([false, 'CancelledByUser']); }, 200),
  };
}

/** Answers the frame's authenticate request and closes the window. */
function endSignIn(args) {
  const { s, req, win, monitor } = signIn;
  signIn = null;
  clearInterval(monitor);
  if (s === dialog || s === content) respond(s, req, args);
  try { if (!win.closed) win.close(); } catch { /* already gone */ }
}

function toSignInWindow(msg, func, kind) {
  log('out', func, msg.args, kind, 'sign-in');
  signIn.win.postMessage(msg, signIn.origin);
}

/** The sign-in window's teams-js: its origin may change (the service's sign-in pages), ours speak. */
function fromSignInWindow(event) {
  const msg = event.data;
  if (event.origin !== signIn.origin || !msg || typeof msg !== 'object' || typeof msg.func !== 'string') return;
  log('in', msg.func, msg.args, typeof msg.id === 'number' ? 'request' : 'event', 'sign-in');
  const answer = (args) => toSignInWindow({ id: msg.id, uuidAsString: msg.uuidAsString, args }, msg.func, 'response');
  switch (msg.func) {
    case 'initialize': answer(['authentication', context.hostClientType, RUNTIME, '2.0.0']); break;
    case 'getContext': answer([{ ...legacyContext(signIn.s), frameContext: 'authentication' }]); break;
    case 'authentication.authenticate.success': endSignIn([true, msg.args?.[0]]); break;
    case 'authentication.authenticate.failure': endSignIn([false, msg.args?.[0]]); break;
    default: if (typeof msg.id === 'number') answer([false, `not supported in the sign-in window: ${msg.func}`]);
  }
}

/**
 * getAuthToken: a token signed by the server's dev identity provider (`--dev-sso`), in the
 * variant chosen in the context panel. Without it the page is told SSO is not configured.
 */
async function issueToken(s, req) {
  const q = new URLSearchParams({ tid: context.tid, oid: context.userObjectId, variant: context.tokenVariant });
  const alive = () => s === dialog || s === content;
  try {
    const res = await fetch(`/emulator/idp/token?${q}`);
    if (res.status === 404) throw new Error('sso is not configured in this emulator');
    if (!res.ok) throw new Error(`sign-in failed: the identity provider answered ${res.status}`);
    const token = (await res.json()).token;
    if (alive()) respond(s, req, [true, token]);
  } catch (e) {
    if (alive()) respond(s, req, [false, e.message]);
  }
}

// ---- the webhook URL Teams hands a connector's page ----

/**
 * For a new connector: a new webhook of this team, in the chosen form. When a connector is
 * configured again or removed: the stored webhook in the chosen form (Teams migrated the
 * forms with the same ids), or — per the "on Configure" switch — a new webhook of the same
 * team, or another team's webhook.
 */
function handOutWebhook(mode, instance) {
  if (mode === 'new') return mintWebhookUrl(context);
  const ids = webhookIds(instance.webhookUrl);
  if (!ids) return instance.webhookUrl;
  switch (context.webhookOnEdit) {
    case 'new-same-team': return mintWebhookUrl({ ...context, tid: ids.tenant }, { group: ids.group });
    case 'other-team': return mintWebhookUrl({ ...context, tid: ids.tenant }, { group: guid() });
    default: return inForm(instance.webhookUrl, context.webhookForm);
  }
}

// ---- the dialog ----

let returnFocus = null;

/** Which URL to frame: a connector's stored contentUrl when usable, a tab's removeUrl when removing, else the page. */
function frameUrl(mode, kind, instance) {
  const wanted = kind === 'tab' ? (mode === 'remove' ? instance?.removeUrl : null) : instance?.contentUrl;
  const stored = wanted ? httpUrl(wanted) : null;
  if (wanted && !stored) note(`stored url is not http(s); loading ${pageUrl.href}`);
  return stored ?? pageUrl;
}

/**
 * Opens the dialog for `mode` new | configure | remove of a `kind` connector | tab. A tab's
 * Settings load the configurationUrl (as Teams does), its removal the removeUrl it saved.
 */
function openDialog(mode, instance, kind = instance?.kind ?? 'connector') {
  if (dialog?.waiting) clearTimeout(dialog.waiting);
  if (kind === 'tab' && mode === 'remove' && !instance.removeUrl) {
    // Teams removes a tab without a removeUrl without asking its page.
    note(`tab "${instance.name}" has no removeUrl: removed without its page`);
    removeInstance(instance);
    return;
  }
  const url = frameUrl(mode, kind, instance);
  dialog = newSession($('#host-frame'), url, {
    mode, kind, instance, frameContext: mode === 'remove' ? 'remove' : 'settings',
    // Teams mints (or hands again) a connector's webhook when the dialog opens; a tab gets none.
    webhookUrl: kind === 'connector' ? handOutWebhook(mode, instance) : undefined,
  });
  const what = kind === 'tab' ? `${connector.name} tab` : connector.name;
  $('#dialog-title').textContent = mode === 'remove' ? `Remove ${what}` : what;
  $('#dialog-subtitle').textContent = mode === 'new' ? connector.shortDescription
    : `${mode === 'remove' ? 'Removing' : 'Configuring'} "${instanceName(instance)}"`;
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
  if (dialog?.waiting) clearTimeout(dialog.waiting);
  // Its page is gone: so is the sign-in window it asked for.
  if (signIn && signIn.s === dialog) endSignIn([false, 'CancelledByUser']);
  dialog = null;
  $('#host-dialog').hidden = true;
  $('#host-frame').src = 'about:blank';
  if (returnFocus?.isConnected) returnFocus.focus();
  returnFocus = null;
}

/** Save follows the page's last setValidityState; Remove needs only a connected page. */
function updateButtons() {
  $('#host-save').disabled = !(dialog && dialog.initialized && dialog.validity);
  $('#host-remove').disabled = !(dialog && dialog.initialized);
}

function setStatus(text) { $('#host-status').textContent = text; }
function showError(text) { const e = $('#host-error'); e.textContent = text; e.title = text; e.hidden = false; }
function hideError() { const e = $('#host-error'); e.textContent = ''; e.title = ''; e.hidden = true; }

/** After sending save/remove: Teams gives the page 30 s to answer. */
function startWaiting(what) {
  hideError();
  if (dialog.waiting) clearTimeout(dialog.waiting);
  setStatus(what === 'save' ? 'Saving…' : 'Removing…');
  const current = dialog;
  dialog.waiting = setTimeout(() => {
    if (dialog !== current) return;
    dialog.waiting = null;
    setStatus('No answer');
    showError(`the page did not answer the ${what} within ${ANSWER_TIMEOUT_S} seconds`);
  }, ANSWER_TIMEOUT_S * 1000);
}

function failEvent(what, reason) {
  if (!dialog) return;
  clearTimeout(dialog.waiting);
  dialog.waiting = null;
  setStatus(`${what === 'save' ? 'Save' : 'Remove'} failed`);
  showError(typeof reason === 'string' && reason ? reason : `the page reported a failed ${what} without a reason`);
}

const instanceName = (i) => (i?.kind === 'tab' ? i.name : i?.configName) || i?.entityId || '';

/** save.success: store the instance from the page's last setSettings, then close. */
function finishSave() {
  if (!dialog || dialog.done || dialog.mode === 'remove') return;
  clearTimeout(dialog.waiting);
  dialog.waiting = null;
  const s = dialog.pendingSettings;
  const refuse = (why) => { showError(why); setStatus('Not saved'); };
  if (!s) return refuse('the page did not call setSettings');
  if (!s.entityId) return refuse('the page called setSettings without an entityId');
  if (dialog.kind === 'tab' && !httpUrl(s.contentUrl ?? '')) return refuse('a tab needs an http(s) contentUrl in setSettings');
  dialog.done = true;
  const created = dialog.instance?.created ?? new Date().toISOString();
  const record = dialog.kind === 'tab'
    ? {
      kind: 'tab', entityId: String(s.entityId), name: String(s.suggestedDisplayName || connector.name),
      contentUrl: String(s.contentUrl), websiteUrl: String(s.websiteUrl ?? ''), removeUrl: String(s.removeUrl ?? ''), created,
    }
    : {
      kind: 'connector', entityId: String(s.entityId), configName: String(s.configName ?? ''), contentUrl: String(s.contentUrl ?? ''),
      webhookUrl: dialog.webhookUrl, created,
    };
  // One instance per entityId (and per webhook for connectors): re-saving replaces, in place when configuring.
  const same = (i) => i.entityId === record.entityId || (record.webhookUrl && i.webhookUrl === record.webhookUrl);
  const at = instances.findIndex(same);
  instances = instances.filter((i) => !same(i));
  instances.splice(at < 0 ? instances.length : Math.min(at, instances.length), 0, record);
  saveInstances(instances);
  const wasNew = dialog.mode === 'new';
  closeDialog();
  renderInstances();
  if (record.kind === 'tab') {
    // Teams shows a new tab at once, and reloads an open one whose settings changed.
    if (wasNew || openTab?.entityId === record.entityId) showTab(record);
  } else if (shownInbox && shownInbox.key === record.entityId) {
    showInbox(inboxTarget(record));
  }
}

function finishRemove() {
  if (!dialog || dialog.done || dialog.mode !== 'remove') return;
  dialog.done = true;
  const gone = dialog.instance;
  closeDialog();
  removeInstance(gone);
}

function removeInstance(gone) {
  instances = instances.filter((i) => i.entityId !== gone.entityId);
  saveInstances(instances);
  if (openTab?.entityId === gone.entityId) showPosts();
  renderInstances();
  if (shownInbox?.key === gone.entityId) showInbox(null);
}

// Save stays clickable while waiting, as a double click in Teams can reach the page twice:
// the page must cope with it (an end-to-end test clicks twice on purpose).
$('#host-save').addEventListener('click', () => {
  if (!dialog) return;
  startWaiting('save');
  // Teams hands a connector's page the webhook URL again with the save event; a tab's nothing.
  emit(dialog, 'settings.save', [dialog.kind === 'tab' ? {} : { webhookUrl: dialog.webhookUrl }]);
});
$('#host-remove').addEventListener('click', () => {
  if (!dialog) return;
  startWaiting('remove');
  emit(dialog, 'settings.remove', []);
});
$('#host-cancel').addEventListener('click', closeDialog);
$('#add-connector').addEventListener('click', () => openDialog('new', null, 'connector'));
$('#add-tab').addEventListener('click', () => openDialog('new', null, 'tab'));
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && dialog) { e.preventDefault(); closeDialog(); }
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

// ---- the channel's tabs: "Posts" and one per configurable tab ----

/** The tab instance whose content is shown, or null for the channel's posts. */
let openTab = null;

function renderTabStrip() {
  const strip = $('#channel-tabs');
  const tab = (key, text, selected, onClick) => {
    const b = el('button', { type: 'button', role: 'tab', class: 'channel-tab', 'data-tab': key, 'aria-selected': String(selected), text });
    b.addEventListener('click', onClick);
    return b;
  };
  strip.replaceChildren(
    tab('posts', 'Posts', !openTab, showPosts),
    ...instances.filter((i) => i.kind === 'tab').map((i) => tab(i.entityId, i.name, openTab?.entityId === i.entityId, () => showTab(i))),
  );
}

/** Shows a tab's content page at its contentUrl, in frame context `content`. */
function showTab(instance) {
  const url = httpUrl(instance.contentUrl);
  if (!url) { note(`tab "${instance.name}" has no usable contentUrl`); return; }
  openTab = instance;
  content = newSession($('#tab-frame'), url, { mode: 'content', kind: 'tab', instance, frameContext: 'content' });
  $('#tab-title').textContent = instance.name;
  $('#tab-frame').title = `${instance.name} (tab)`;
  $('#tab-frame').src = url.href;
  $('#inbox-panel').hidden = true;
  $('#tab-panel').hidden = false;
  renderTabStrip();
}

function showPosts() {
  openTab = null;
  content = null;
  $('#tab-frame').src = 'about:blank';
  $('#tab-panel').hidden = true;
  $('#inbox-panel').hidden = false;
  renderTabStrip();
}

$('#tab-settings').addEventListener('click', () => { if (openTab) openDialog('configure', openTab, 'tab'); });
$('#tab-remove').addEventListener('click', () => { if (openTab) openDialog('remove', openTab, 'tab'); });

// ---- theme and context ----

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $('#host-theme').value = theme;
}
$('#host-theme').addEventListener('change', (e) => {
  context.theme = e.target.value;
  saveContext(context);
  applyTheme(context.theme);
  for (const s of [dialog, content]) if (s?.initialized) emit(s, 'themeChange', [context.theme]);
});

/** [key, label, options?]: the values getContext reports, and the emulator's own switches. */
const contextFields = [
  ['locale', 'Locale'], ['tid', 'Tenant id'], ['userObjectId', 'User object id'],
  ['userPrincipalName', 'User principal name'], ['teamId', 'Team id'], ['groupId', 'Team group id (in webhook URLs)'],
  ['teamName', 'Team name'], ['channelId', 'Channel id'], ['channelName', 'Channel name'],
  ['hostClientType', 'Host client type', ['web', 'desktop', 'android', 'ios']],
  ['tokenVariant', 'Sign-in token (getAuthToken)', ['valid', 'expired', 'not-yet-valid', 'wrong-audience', 'wrong-issuer', 'other-tenant', 'bad-signature']],
  ['webhookForm', 'Connector webhook URL form', ['webhookb2', 'legacy', 'webhookb2-v2']],
  ['webhookOnEdit', 'Webhook on Configure (connector)', ['stored', 'new-same-team', 'other-team']],
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

// ---- the channel's apps ----

function renderInstances() {
  const list = $('#instances');
  list.replaceChildren();
  for (const inst of instances) {
    const name = instanceName(inst);
    const button = (action, text, label, run) => {
      const b = el('button', { class: 'button', type: 'button', 'data-action': action, 'aria-label': `${label} ${name}`, text });
      b.addEventListener('click', run);
      return b;
    };
    const created = new Date(inst.created);
    const actions = inst.kind === 'tab'
      ? [button('open', 'Open', 'Open tab', () => showTab(inst)), button('configure', 'Settings', 'Settings of tab', () => openDialog('configure', inst, 'tab')),
        button('remove', 'Remove', 'Remove tab', () => openDialog('remove', inst, 'tab'))]
      : [button('configure', 'Configure', 'Configure', () => openDialog('configure', inst)), button('remove', 'Remove', 'Remove', () => openDialog('remove', inst)),
        button('inbox', 'Inbox', 'Inbox of', () => showInbox(inboxTarget(inst)))];
    const li = el('li', { 'data-entity-id': inst.entityId, 'data-kind': inst.kind, 'aria-current': shownInbox?.key === inst.entityId ? 'true' : null },
      el('span', { class: 'name', text: name }),
      el('span', { class: 'created', text: `${inst.kind === 'tab' ? 'Tab' : 'Connector'}${Number.isNaN(created.getTime()) ? '' : ` · added ${created.toLocaleString()}`}` }),
      el('span', { class: 'actions' }, ...actions));
    list.append(li);
  }
  $('#instances-empty').hidden = instances.length > 0;
  renderTabStrip();
}

// ---- Workflows webhooks ("Send webhook alerts to a channel") ----

function renderWorkflows() {
  const list = $('#workflows');
  list.replaceChildren();
  for (const w of workflows) {
    const url = el('input', { class: 'workflow-url', type: 'text', readonly: 'readonly', value: w.url, 'aria-label': `URL of ${w.name}`, spellcheck: 'false' });
    const copy = el('button', { class: 'button', type: 'button', 'data-action': 'copy', text: 'Copy URL' });
    copy.addEventListener('click', async () => {
      url.select();
      try { await navigator.clipboard.writeText(w.url); copy.textContent = 'Copied'; } catch { copy.textContent = 'Selected: press Ctrl+C'; }
    });
    const inbox = el('button', { class: 'button', type: 'button', 'data-action': 'inbox', 'aria-label': `Inbox of ${w.name}`, text: 'Inbox' });
    inbox.addEventListener('click', () => showInbox({ key: w.id, name: w.name, webhookUrl: w.url }));
    list.append(el('li', { 'data-workflow-id': w.id, 'aria-current': shownInbox?.key === w.id ? 'true' : null },
      el('span', { class: 'name', text: w.name }), url, el('span', { class: 'actions' }, copy, inbox)));
  }
  $('#workflows-empty').hidden = workflows.length > 0;
}

/**
 * A flow for signed-in callers (no `sig`) takes only tokens of its maker's tenant: the inbox
 * is told the context's tenant, as Power Automate knows the flow's.
 */
function rememberFlowTenant(url) {
  const path = inboxPath(url);
  if (!path || /[?&]sig=/.test(url)) return;
  fetch(`/emulator/api/inbox-tenant/${path}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: context.tid }),
  }).catch(() => {});
}

// Which URL shape the next webhook gets: today's unless another is chosen to try the page.
for (const [value, label] of Object.entries(WORKFLOWS_SHAPES)) {
  $('#workflow-shape').append(el('option', { value, text: label }));
}

$('#add-workflow').addEventListener('click', () => {
  const shape = $('#workflow-shape').value || 'today';
  const kind = shape === 'today' ? '' : `, ${WORKFLOWS_SHAPES[shape]}`;
  const w = { id: guid(), name: `Send webhook alerts to ${context.channelName} (${workflows.length + 1}${kind})`, url: mintWorkflowsUrl(shape), shape, created: new Date().toISOString() };
  workflows = [...workflows, w];
  saveWorkflows(workflows);
  rememberFlowTenant(w.url);
  renderWorkflows();
  $(`li[data-workflow-id="${w.id}"] .workflow-url`)?.focus();
});

// ---- webhook inbox ----

/** Whose posts are shown: {key, name, webhookUrl}, or null. */
let shownInbox = null;
let pollTimer = null;
/** A signature of what is rendered, so an unchanged inbox is not rebuilt (keeps scroll and focus). */
let rendered = '';
/** True while a mode change is on its way, so a poll does not flip the select back. */
let modePending = false;

/**
 * Short labels of the inbox's answers (the server lists which modes a webhook's kind offers);
 * `ok`, `throttled` and `not-found` answer differently by kind.
 */
const MODE_LABELS = {
  connector: { ok: '200 "1" (ok)', throttled: 'throttled (200 text)', 'not-found': '404' },
  workflows: {
    ok: '202 (ok, schema checked)',
    throttled: '429 throttled, Retry-After',
    'not-found': '404 workflow not found',
    'trigger-disabled': '400 turned off',
    deleted: '400 deleted',
    dormant: '400 off after 90 idle days',
    unauthorized: '401 sign-in required',
    'mismatching-claims': '403 wrong tenant',
    'schema-mismatch': '400 schema mismatch',
  },
  any: { 'rate-limited': '429 Retry-After 1', gone: '410 Gone', error: '500', slow: 'slow (15 s)' },
};
const modeLabel = (mode, workflows) => MODE_LABELS[workflows ? 'workflows' : 'connector'][mode] ?? MODE_LABELS.any[mode] ?? mode;

/** The kind and modes the switch offers now, so an unchanged list is not rebuilt. */
let shownModes = '';
function showModes(modes, workflows) {
  const signature = `${workflows}|${modes.join(',')}`;
  if (signature === shownModes) return;
  shownModes = signature;
  $('#inbox-mode').replaceChildren(...modes.map((m) => el('option', { value: m, text: modeLabel(m, workflows) })));
}

const inboxTarget = (inst) => ({ key: inst.entityId, name: instanceName(inst), webhookUrl: inst.webhookUrl });

function showInbox(target) {
  if (openTab) showPosts();
  shownInbox = target;
  clearTimeout(pollTimer);
  rendered = '';
  $('#inbox').replaceChildren();
  $('#inbox-hint').hidden = !!target;
  $('#inbox-mode').disabled = !target || !inboxPath(target.webhookUrl);
  // The bot's posts are switched in the bot's section (the connector service, not a webhook).
  $('#inbox-mode-label').hidden = !!target?.bot;
  $('#inbox-title').textContent = target ? `Channel posts · ${target.name}` : 'Channel posts';
  $('#inbox-status').textContent = '';
  renderInstances();
  renderWorkflows();
  if (!target) return;
  if (target.bot) { pollInbox(); return; }
  if (!inboxPath(target.webhookUrl)) {
    $('#inbox-status').textContent = 'This webhook is not the emulator\'s inbox: its posts cannot be shown here.';
    return;
  }
  pollInbox();
}

/** Polls every 2 s while an inbox is shown and the tab is visible. */
async function pollInbox() {
  clearTimeout(pollTimer);
  const current = shownInbox;
  if (current?.bot) { await pollBotPosts(current); return; }
  const path = current && inboxPath(current.webhookUrl);
  if (!path) return;
  if (!document.hidden) {
    try {
      const res = await fetch(`/emulator/api/inbox/${path}`, { cache: 'no-store' });
      if (!res.ok) throw new Error(`the inbox answered ${res.status}`);
      const data = await res.json();
      if (current !== shownInbox) return;
      const messages = Array.isArray(data.messages) ? data.messages : [];
      if (Array.isArray(data.modes)) showModes(data.modes, data.workflows === true);
      if (!modePending && data.mode) $('#inbox-mode').value = data.mode;
      const last = messages.at(-1);
      const signature = `${messages.length}|${last?.receivedAt ?? ''}|${last?.headers?.['idempotency-key'] ?? ''}`;
      if (signature !== rendered) {
        rendered = signature;
        await hostConfigReady;
        $('#inbox').replaceChildren(...messages.slice().reverse().map(renderPost));
      }
      $('#inbox-status').textContent = `${messages.length} post${messages.length === 1 ? '' : 's'} · webhook answers: ${data.mode ? modeLabel(data.mode, data.workflows === true) : '?'}`;
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
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message ?? `answered ${res.status}`);
  } catch (err) {
    $('#inbox-status').textContent = `Could not change the webhook's answer (${err.message})`;
  } finally {
    modePending = false;
  }
});

// ---- the app's bot (--dev-bot: the server plays the Bot Framework) ----

/** Labels of the ways the emulator can sign an activity; the server lists them. */
const BOT_VARIANT_LABELS = {
  valid: 'the Bot Framework (valid)', 'within-skew': 'expired 2 min ago (within the skew)', 'bad-signature': 'a bad signature',
  'wrong-audience': 'another bot (audience)', 'wrong-issuer': 'another issuer', expired: 'expired 10 min ago',
  'not-yet-valid': 'not valid yet', 'service-url-mismatch': 'another service URL in the token',
  'not-endorsed': 'a key not endorsed for Teams', 'unknown-key': 'an unknown key', 'no-token': 'no token',
  'disallowed-service-url': 'a service URL Teams never gives',
};

/**
 * Sends the install (`add`), uninstall (`remove`), channel deleted (`channel-deleted`: this
 * channel) or team deleted (`team-deleted`) activity Teams would send the app's bot for this
 * channel's team, signed as chosen, and shows what the server answered.
 */
async function sendBotActivity(action) {
  const variant = $('#bot-variant').value || 'valid';
  const body = { action, tenant: context.tid, teamId: context.teamId, channelId: context.channelId,
    groupId: context.groupId, teamName: context.teamName, variant };
  const status = $('#bot-status');
  try {
    const res = await fetch('/emulator/api/bot/activity', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const sent = await res.json();
    if (!res.ok) throw new Error(sent?.message ?? `the emulator answered ${res.status}`);
    const what = {
      add: `Added to ${context.teamName}`, remove: `Removed from ${context.teamName}`,
      'channel-deleted': `Deleted # ${context.channelName} in ${context.teamName}`, 'team-deleted': `Deleted ${context.teamName}`,
    }[action];
    status.textContent = sent.status === 200
      ? `${what}: the server answered 200.`
      : `The server refused it: ${sent.status} ${sent.answer?.message ?? ''}`;
    note(`bot ${action} (${variant}) → /api/messages answered ${sent.status}`);
  } catch (e) {
    status.textContent = `Not sent: ${e.message}`;
  }
}

$('#bot-add').addEventListener('click', () => sendBotActivity('add'));
$('#bot-remove').addEventListener('click', () => sendBotActivity('remove'));
$('#bot-delete-channel').addEventListener('click', () => sendBotActivity('channel-deleted'));
$('#bot-delete-team').addEventListener('click', () => sendBotActivity('team-deleted'));

// ---- the app's bot's posts: the emulated Bot Connector service's conversation ----

/**
 * What the connector service can answer the channel's posts: `mode` or `mode:count` (that
 * mode for the next `count` posts, then 201 again). The real answers: 429 with Retry-After,
 * 403 BotNotInConversationRoster (the app was removed), 412 and 502 (passing failures).
 */
const BOT_ANSWERS = [
  ['ok', '201 (posted)'],
  ['throttled:2', '429 Retry-After 1 for the next 2 posts'],
  ['throttled', '429 Retry-After 1 (every post)'],
  ['not-in-roster', '403 BotNotInConversationRoster'],
  ['precondition-failed', '412 (every post)'],
  ['bad-gateway', '502 (every post)'],
];
const botAnswerLabel = (mode, remaining) => {
  const [, label] = BOT_ANSWERS.find(([v]) => v === mode) ?? [mode, mode];
  return remaining ? `${label.replace(/ \(every post\)$/, '')} (${remaining} more post${remaining === 1 ? '' : 's'})` : label;
};
$('#bot-answers').replaceChildren(...BOT_ANSWERS.map(([value, text]) => el('option', { value, text })));

/** The conversation the server posts this channel's cards to (the channel's id). */
const botConversationPath = () => `/emulator/api/bot/conversations/${encodeURIComponent(context.channelId)}`;
/** True while a switch is on its way, so a poll does not flip it back. */
let botSwitchPending = false;

$('#bot-posts').addEventListener('click', () => showInbox({ key: 'bot', bot: true, name: `${connector.name} (the app's bot)` }));

$('#bot-answers').addEventListener('change', async (e) => {
  const [mode, count] = e.target.value.split(':');
  botSwitchPending = true;
  try {
    const res = await fetch(botConversationPath(), {
      method: 'PUT', headers: { 'content-type': 'application/json' },
      body: JSON.stringify(count ? { mode, count: Number(count) } : { mode }),
    });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message ?? `answered ${res.status}`);
    note(`connector service: ${context.channelName} answers ${botAnswerLabel(e.target.value)}`);
  } catch (err) {
    $('#bot-status').textContent = `Could not change the connector service's answer (${err.message})`;
  } finally {
    botSwitchPending = false;
  }
});

$('#bot-tokens').addEventListener('change', async (e) => {
  botSwitchPending = true;
  try {
    const res = await fetch('/emulator/api/idp', {
      method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ botExpiredTokens: Number(e.target.value) }),
    });
    if (!res.ok) throw new Error((await res.json().catch(() => ({}))).message ?? `answered ${res.status}`);
    note(`token endpoint: ${e.target.selectedOptions[0]?.textContent ?? e.target.value}`);
  } catch (err) {
    $('#bot-status').textContent = `Could not change the token endpoint (${err.message})`;
  } finally {
    botSwitchPending = false;
  }
});

/** Polls the channel's conversation at the connector service while the bot's posts are shown. */
async function pollBotPosts(current) {
  if (!document.hidden) {
    try {
      const [res, idp] = await Promise.all([fetch(botConversationPath(), { cache: 'no-store' }), fetch('/emulator/api/idp', { cache: 'no-store' })]);
      if (!res.ok) throw new Error(`the connector service answered ${res.status}`);
      const data = await res.json();
      const tokens = idp.ok ? await idp.json() : null;
      if (current !== shownInbox) return;
      const posts = Array.isArray(data.activities) ? data.activities : [];
      const last = posts.at(-1);
      const signature = `bot|${posts.length}|${last?.id ?? ''}`;
      if (signature !== rendered) {
        rendered = signature;
        await hostConfigReady;
        $('#inbox').replaceChildren(...posts.slice().reverse().map((p) => renderPost({
          receivedAt: p.receivedAt, headers: {}, body: p.activity, postedBy: p.from?.name ?? 'the app\'s bot',
        })));
      }
      if (!botSwitchPending) {
        const value = data.remaining ? `${data.mode}:2` : data.mode;
        if (BOT_ANSWERS.some(([v]) => v === value)) $('#bot-answers').value = value;
        if (tokens) $('#bot-tokens').value = tokens.botExpiredTokens > 0 ? '1' : '0';
      }
      const received = Number(data.received) || 0;
      const refused = received - posts.length;
      $('#inbox-status').textContent = `${posts.length} post${posts.length === 1 ? '' : 's'} by the app's bot`
        + `${refused > 0 ? ` · ${refused} refused` : ''} · connector service answers: ${botAnswerLabel(data.mode, data.remaining)}`;
    } catch (e) {
      if (current === shownInbox) $('#inbox-status').textContent = `Connector service not reachable (${e.message}); retrying…`;
    }
  }
  if (current === shownInbox) pollTimer = setTimeout(pollInbox, INBOX_POLL_MS);
}

fetch('/emulator/api/bot').then((r) => (r.ok ? r.json() : null)).then((bot) => {
  if (!bot?.appId) return;
  $('#bot-variant').replaceChildren(...(bot.variants ?? ['valid']).map((v) =>
    el('option', { value: v, text: BOT_VARIANT_LABELS[v] ?? v })));
  $('#bot-section').hidden = false;
}).catch(() => { /* no server API (a static check): no bot */ });

// ---- start ----

/** Read-only hooks for automated tests (copies, so a test cannot change the emulator). */
window.emulator = Object.freeze({
  instances: () => structuredClone(instances),
  workflows: () => structuredClone(workflows),
  log: () => logEntries.map(({ dir, func, args, kind, frame, time }) => structuredClone({ dir, func, args, kind, frame, time })),
  lastSettings: () => structuredClone(lastSettings),
  validity: () => dialog?.validity ?? false,
  pageUrl: () => pageUrl.href,
});

applyTheme(context.theme);
renderChannel();
renderContextForm();
renderInstances();
renderWorkflows();
showInbox(null);
if (params.get('page') && pageUrl.origin !== location.origin) {
  note(`hosting ${pageUrl.href}: the page must list ${location.origin} in app.initialize's validMessageOrigins`);
}
fetch('/emulator/api/connector').then((r) => (r.ok ? r.json() : null)).then((c) => {
  if (!c || typeof c !== 'object') return;
  connector = { ...connector, ...c };
  document.title = `${connector.name} · Teams host emulator`;
  if (!dialog) $('#dialog-title').textContent = connector.name;
  if (!($('#dialog-icon') instanceof HTMLImageElement)) accentSquare($('#dialog-icon'));
}).catch(() => { /* no server API (a static check): keep the defaults */ });
