// The Teams host emulator: the host side of the teams-js protocol (see
// shared/teams-sdk-protocol.md) around an iframe of the configuration page, the channel's
// configured connector instances, a message log and the webhook inboxes.
// Everything a user typed is shown with textContent, never as HTML.

const STORE_INSTANCES = 'teams-emulator.instances';
const STORE_CONTEXT = 'teams-emulator.context';
const SAVE_TIMEOUT_MS = 30000;

const $ = (sel) => document.querySelector(sel);
const params = new URLSearchParams(location.search);
/** The configuration page; `?page=` hosts a page served from another origin. */
const pageUrl = new URL(params.get('page') || '/', location.href);
const pageOrigin = pageUrl.origin;

const defaultContext = {
  locale: 'en-US', theme: 'default', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  userObjectId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', userPrincipalName: 'megan@contoso.example',
  teamId: '19:8f4c2a1e0b7d4c559e617a0d3f1b2c4d@thread.tacv2', channelId: '19:5d7e9a2b3c4f4e1a8b6c0d2e4f6a8b0c@thread.tacv2',
  channelName: 'General', teamName: 'Contoso Engineering', hostClientType: 'web',
  tokenVariant: 'valid',
};

function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}
let instances = load(STORE_INSTANCES, []);
let context = { ...defaultContext, ...load(STORE_CONTEXT, {}) };
const saveInstances = () => localStorage.setItem(STORE_INSTANCES, JSON.stringify(instances));
const saveContext = () => localStorage.setItem(STORE_CONTEXT, JSON.stringify(context));

/** The dialog's current session: what Teams would know while the page is open. */
let session = null;
const logEntries = [];
let connector = { name: 'Connector', accentColor: '#5B5FC7' };

// ---- helpers ----

function guid() { return crypto.randomUUID(); }
function hex(n) { return Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join(''); }

/** A webhook URL in the real connector shape, pointing at this server's inbox. */
function mintWebhookUrl() {
  return `${location.origin}/emulator/webhook/webhookb2/${guid()}@${context.tid}/IncomingWebhook/${hex(16)}/${context.userObjectId}`;
}

/** The inbox key of a webhook URL: its path after /emulator/webhook/. */
function inboxPath(url) {
  const marker = '/emulator/webhook/';
  const i = url.indexOf(marker);
  return i < 0 ? null : url.slice(i + marker.length);
}

/** Shows a webhook URL's origin and first path segment only: it is a credential. */
function maskUrl(s) {
  return s.replace(/(https?:\/\/[^/\s"]+\/[^/\s"]+\/)[^\s"]+/g, '$1…')
    // Sign-in tokens are credentials too.
    .replace(/(eyJ[\w-]{6})[\w-]*\.[\w-]+\.[\w-]*/g, '$1…');
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ---- log ----

function log(dir, func, args) {
  logEntries.push({ dir, func, args });
  const text = maskUrl(JSON.stringify(args ?? []));
  const li = el('li', { 'data-func': func, 'data-dir': dir },
    el('span', { class: 'dir', text: dir === 'in' ? '→ host' : '← host' }),
    el('span', { class: 'func', text: func }),
    el('span', { class: 'time', text: ` ${new Date().toLocaleTimeString()}` }),
    el('span', { class: 'args', text }));
  $('#host-log').prepend(li);
}

// ---- talking to the page ----

function frameWindow() { return $('#host-frame').contentWindow; }

function post(msg) {
  log('out', msg.func ?? `response #${msg.id}`, msg.args);
  frameWindow()?.postMessage(msg, pageOrigin);
}

function respond(req, args) { post({ id: req.id, uuidAsString: req.uuidAsString, args }); }

function emit(func, args) { post({ func, args }); }

function legacyContext() {
  return {
    ...context,
    frameContext: session?.frameContext ?? 'settings',
    entityId: session?.instance?.entityId ?? '',
    appSessionId: session?.appSessionId, sessionId: session?.appSessionId,
    isFullScreen: false, ringId: 'general',
  };
}

function currentSettings() {
  const i = session.instance;
  return {
    entityId: i?.entityId ?? '', configName: i?.configName ?? '', contentUrl: i?.contentUrl ?? '',
    webhookUrl: session.webhookUrl, appType: 'Connector', userObjectId: context.userObjectId,
  };
}

const handlers = {
  initialize: (req) => {
    session.initialized = true;
    const runtime = JSON.stringify({ apiVersion: 4, supports: { pages: { config: {} }, appInitialization: {}, authentication: {} } });
    respond(req, [session.frameContext, context.hostClientType, runtime, '2.0.0']);
    updateButtons();
  },
  getContext: (req) => respond(req, [legacyContext()]),
  'settings.getSettings': (req) => respond(req, [currentSettings()]),
  'settings.setSettings': (req) => { session.pendingSettings = req.args?.[0] ?? null; respond(req, [true]); },
  'settings.setValidityState': (req) => { session.validity = req.args?.[0] === true; updateButtons(); },
  registerHandler: (req) => { session.handlers.add(req.args?.[0]); },
  'appInitialization.success': () => { session.loaded = true; },
  'appInitialization.failure': (req) => showError(`the page reported a load failure: ${req.args?.[0]?.message ?? req.args?.[0] ?? ''}`),
  'authentication.getAuthToken': (req) => issueToken(req),
  'settings.save.success': () => finishSave(),
  'settings.save.failure': (req) => failEvent(req.args?.[0]),
  'settings.remove.success': () => finishRemove(),
  'settings.remove.failure': (req) => failEvent(req.args?.[0]),
};

window.addEventListener('message', (event) => {
  if (!session || event.source !== frameWindow() || event.origin !== pageOrigin) return;
  const msg = event.data;
  if (!msg || typeof msg !== 'object' || typeof msg.func !== 'string') return;
  log('in', msg.func, msg.args);
  const handler = handlers[msg.func];
  if (handler) handler(msg);
  else if (typeof msg.id === 'number') respond(msg, [false, `not supported by the emulator: ${msg.func}`]);
});

/** Answers getAuthToken with a token from the dev identity provider (the server signs it). */
async function issueToken(req) {
  const q = new URLSearchParams({ tid: context.tid, oid: context.userObjectId, variant: context.tokenVariant });
  try {
    const res = await fetch(`/emulator/idp/token?${q}`);
    if (!res.ok) throw new Error(`identity provider answered ${res.status}`);
    respond(req, [true, (await res.json()).token]);
  } catch (e) {
    respond(req, [false, `sign-in failed: ${e.message}`]);
  }
}

// ---- the dialog ----

function openDialog(mode, instance) {
  session = {
    mode, instance, frameContext: mode === 'remove' ? 'remove' : 'settings',
    webhookUrl: instance?.webhookUrl ?? mintWebhookUrl(), appSessionId: guid(),
    validity: false, handlers: new Set(), pendingSettings: null, waiting: null, done: false,
  };
  $('#dialog-title').textContent = mode === 'remove' ? `Remove ${connector.name}` : connector.name;
  hideError();
  $('#host-remove').hidden = mode !== 'remove';
  $('#host-save').hidden = mode === 'remove';
  updateButtons();
  const src = instance?.contentUrl || pageUrl.href;
  $('#host-frame').src = src;
  $('#host-dialog').hidden = false;
}

function closeDialog() {
  if (session?.waiting) clearTimeout(session.waiting);
  session = null;
  $('#host-dialog').hidden = true;
  $('#host-frame').src = 'about:blank';
}

function updateButtons() {
  $('#host-save').disabled = !(session && session.initialized && session.validity);
  $('#host-remove').disabled = !(session && session.initialized);
}

function showError(text) { const e = $('#host-error'); e.textContent = text; e.hidden = false; }
function hideError() { const e = $('#host-error'); e.textContent = ''; e.hidden = true; }

function startWaiting(what) {
  hideError();
  if (session.waiting) clearTimeout(session.waiting);
  session.waiting = setTimeout(() => showError(`the page did not answer the ${what} within 30 seconds`), SAVE_TIMEOUT_MS);
}

function failEvent(reason) {
  if (!session) return;
  clearTimeout(session.waiting);
  showError(String(reason ?? 'the page reported a failure'));
}

function finishSave() {
  if (!session || session.done) return;
  clearTimeout(session.waiting);
  const s = session.pendingSettings;
  if (!s || !s.entityId) { showError('the page did not call setSettings'); return; }
  session.done = true;
  const record = {
    entityId: s.entityId, configName: s.configName ?? '', contentUrl: s.contentUrl ?? '',
    webhookUrl: session.webhookUrl, created: session.instance?.created ?? new Date().toISOString(),
  };
  instances = instances.filter((i) => i.entityId !== record.entityId && i.webhookUrl !== record.webhookUrl);
  instances.push(record);
  saveInstances();
  window.emulatorLastSettings = s;
  closeDialog();
  renderInstances();
}

function finishRemove() {
  if (!session || session.done) return;
  session.done = true;
  const gone = session.instance;
  instances = instances.filter((i) => i.entityId !== gone.entityId);
  saveInstances();
  closeDialog();
  renderInstances();
  if (shownInbox === gone.webhookUrl) showInbox(null);
}

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

// ---- theme and context ----

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  $('#host-theme').value = theme;
}
$('#host-theme').addEventListener('change', (e) => {
  context.theme = e.target.value;
  saveContext();
  applyTheme(context.theme);
  if (session?.initialized) emit('themeChange', [context.theme]);
});

const contextFields = [
  ['locale', 'Locale'], ['tid', 'Tenant id'], ['userObjectId', 'User object id'], ['teamId', 'Team id'],
  ['channelId', 'Channel id'], ['hostClientType', 'Host client type', ['web', 'desktop', 'android', 'ios']],
  ['tokenVariant', 'Sign-in token (getAuthToken)', ['valid', 'expired', 'not-yet-valid', 'wrong-audience', 'wrong-issuer', 'other-tenant', 'bad-signature']],
];
function renderContextForm() {
  const form = $('#context-form');
  form.replaceChildren();
  for (const [key, label, options] of contextFields) {
    const input = options
      ? el('select', { name: key }, ...options.map((o) => el('option', { value: o, text: o })))
      : el('input', { name: key, type: 'text' });
    input.value = context[key];
    input.addEventListener('change', () => { context[key] = input.value; saveContext(); });
    form.append(el('label', {}, label, input));
  }
}

// ---- instances ----

function renderInstances() {
  const list = $('#instances');
  list.replaceChildren();
  for (const inst of instances) {
    const button = (action, text) => {
      const b = el('button', { class: 'button', type: 'button', 'data-action': action, text });
      b.addEventListener('click', () => {
        if (action === 'inbox') showInbox(inst.webhookUrl); else openDialog(action, inst);
      });
      return b;
    };
    list.append(el('li', { 'data-entity-id': inst.entityId },
      el('span', { class: 'name', text: inst.configName || inst.entityId }),
      el('span', { class: 'actions' }, button('configure', 'Configure'), button('remove', 'Remove'), button('inbox', 'Inbox'))));
  }
}

// ---- webhook inbox ----

let shownInbox = null;
let pollTimer = null;

function showInbox(webhookUrl) {
  shownInbox = webhookUrl;
  clearInterval(pollTimer);
  $('#inbox').replaceChildren();
  $('#inbox-hint').hidden = !!webhookUrl;
  if (!webhookUrl) return;
  pollInbox();
  pollTimer = setInterval(pollInbox, 2000);
}

async function pollInbox() {
  const path = shownInbox && inboxPath(shownInbox);
  if (!path) return;
  try {
    const res = await fetch(`/emulator/api/inbox/${path}`);
    if (!res.ok) return;
    const data = await res.json();
    $('#inbox-mode').value = data.mode;
    const cards = data.messages.slice().reverse().map(renderPost);
    $('#inbox').replaceChildren(...cards);
  } catch { /* the server is restarting; the next poll tries again */ }
}

$('#inbox-mode').addEventListener('change', async (e) => {
  const path = shownInbox && inboxPath(shownInbox);
  if (!path) return;
  await fetch(`/emulator/api/inbox-mode/${path}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: e.target.value }),
  });
});

function safeLink(url, text) {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return el('span', { text });
    return el('a', { href: u.href, target: '_blank', rel: 'noopener noreferrer', class: 'button', text });
  } catch { return el('span', { text }); }
}

function safeImage(url, alt) {
  try {
    const u = new URL(url);
    return ['https:', 'http:', 'data:'].includes(u.protocol) ? el('img', { src: u.href, alt: alt ?? '' }) : null;
  } catch { return null; }
}

function facts(list) {
  if (!Array.isArray(list) || !list.length) return null;
  const dl = el('dl');
  for (const f of list) dl.append(el('dt', { text: String(f.name ?? f.title ?? '') }), el('dd', { text: String(f.value ?? '') }));
  return dl;
}

/** One received POST, rendered like a Teams channel post. */
function renderPost(message) {
  const body = message.body;
  const card = el('article', { class: 'card' });
  card.append(el('div', { class: 'meta', text: `${new Date(message.receivedAt).toLocaleString()} · ${message.headers?.['idempotency-key'] ?? 'no idempotency key'}` }));
  if (body && body['@type'] === 'MessageCard') renderMessageCard(card, body);
  else if (body && body.type === 'message' && Array.isArray(body.attachments)) {
    for (const a of body.attachments) {
      if (a.contentType === 'application/vnd.microsoft.card.adaptive' && a.content) renderAdaptive(card, a.content);
      else card.append(el('pre', { text: JSON.stringify(a, null, 2) }));
    }
  } else card.append(el('pre', { text: typeof body === 'string' ? body : JSON.stringify(body, null, 2) }));
  return card;
}

function renderMessageCard(card, c) {
  if (/^#?[0-9a-fA-F]{6}$/.test(c.themeColor ?? '')) card.style.setProperty('--accent', `#${c.themeColor.replace('#', '')}`);
  if (c.title) card.append(el('p', { class: 'title', text: c.title }));
  // Teams shows `summary` only in notifications, not in the post.
  if (c.text) card.append(el('p', { class: 'text', text: c.text }));
  for (const s of c.sections ?? []) {
    if (s.activityImage) card.append(safeImage(s.activityImage, ''));
    if (s.activityTitle) card.append(el('p', { class: 'title', text: s.activityTitle }));
    if (s.activitySubtitle) card.append(el('p', { class: 'text', text: s.activitySubtitle }));
    if (s.text) card.append(el('p', { class: 'text', text: s.text }));
    card.append(facts(s.facts));
    for (const img of s.images ?? []) card.append(safeImage(img.image, img.title));
  }
  const actions = el('div', { class: 'actions' });
  for (const a of c.potentialAction ?? []) {
    const target = a.targets?.[0]?.uri ?? a.target?.[0];
    if (target) actions.append(safeLink(target, a.name ?? 'Open'));
  }
  if (actions.childElementCount) card.append(actions);
}

function renderAdaptiveElements(parent, items) {
  for (const item of items ?? []) {
    switch (item.type) {
      case 'TextBlock': parent.append(el('p', { class: item.weight === 'Bolder' || item.size === 'Large' ? 'title' : 'text', text: String(item.text ?? '') })); break;
      case 'FactSet': parent.append(facts(item.facts)); break;
      case 'Image': parent.append(safeImage(item.url, item.altText)); break;
      case 'Container': renderAdaptiveElements(parent, item.items); break;
      case 'ColumnSet': for (const col of item.columns ?? []) renderAdaptiveElements(parent, col.items); break;
      default: parent.append(el('pre', { text: JSON.stringify(item) }));
    }
  }
}

function renderAdaptive(card, content) {
  renderAdaptiveElements(card, content.body);
  const actions = el('div', { class: 'actions' });
  for (const a of content.actions ?? []) if (a.type === 'Action.OpenUrl') actions.append(safeLink(a.url, a.title ?? 'Open'));
  if (actions.childElementCount) card.append(actions);
}

$('#log-clear').addEventListener('click', () => { logEntries.length = 0; $('#host-log').replaceChildren(); });

// ---- start ----

/** Read-only hooks for automated tests. */
window.emulator = Object.freeze({
  instances: () => structuredClone(instances),
  log: () => structuredClone(logEntries),
  lastSettings: () => structuredClone(window.emulatorLastSettings ?? null),
  validity: () => session?.validity ?? false,
});

applyTheme(context.theme);
renderContextForm();
renderInstances();
fetch('/emulator/api/connector').then((r) => (r.ok ? r.json() : null)).then((c) => {
  if (!c) return;
  connector = c;
  $('#dialog-title').textContent = c.name;
}).catch(() => {});
