// A small fake of `window.microsoftTeams` (teams-js 2.x) and of `fetch`, installed by the
// page's browser tests, which then inspect what the page did through `state`.
let state = null;

export function install(json) {
  const o = JSON.parse(json);
  state = { validity: [], setSettings: [], requests: [], notified: [], registered: [], appSuccess: 0, aborted: [], authenticate: [] };
  let save = null, remove = null, theme = null;
  state.handlers = () => ({ save, remove, theme });
  const context = {
    app: { locale: o.locale || 'en-US', theme: o.theme || 'default', host: { clientType: 'web' } },
    page: { id: o.contextEntityId || '', frameContext: o.frameContext || 'settings' },
    user: { id: 'user-1', tenant: { id: 'tenant-1' } },
  };
  // `teamId`: the page runs in a channel of a team (a tab there), as Teams' context says.
  if (o.teamId) {
    context.team = { internalId: o.teamId, displayName: 'Contoso Engineering' };
    context.channel = { id: o.channelId || '19:deploys@thread.tacv2', displayName: o.channelName || 'Deploys' };
  }
  // `hostDelayMs`: a slow host, answering initialize, getContext and getSettings that late.
  const late = (value) => new Promise((resolve) => setTimeout(() => resolve(value), o.hostDelayMs || 0));
  window.microsoftTeams = {
    app: {
      initialize: () => (o.hostSilent ? new Promise(() => {}) : o.hostDelayMs ? late() : Promise.resolve()),
      getContext: () => (o.hostDelayMs ? late(context) : Promise.resolve(context)),
      notifySuccess: () => { state.appSuccess += 1; },
      registerOnThemeChangeHandler: (h) => { state.registered.push('themeChange'); theme = h; },
    },
    authentication: {
      getAuthToken: () => (o.tokenFails ? Promise.reject(new Error('consent required')) : Promise.resolve('token-for-tests')),
      // `authenticate: {result}` answers with `result` (JSON text, as callback.js hands it);
      // `{fail: reason}` rejects as teams-js does, with an Error whose message is the reason.
      authenticate: (params) => {
        state.authenticate.push(params);
        const a = o.authenticate || { fail: 'CancelledByUser' };
        return a.fail ? Promise.reject(new Error(a.fail)) : Promise.resolve(JSON.stringify(a.result));
      },
    },
    settings: {
      // `webhookUrl: null` plays a configurable tab: Teams hands it no webhook.
      getSettings: (cb) => setTimeout(() => cb({
        entityId: o.entityId || '', configName: '', contentUrl: o.contentUrl || '',
        webhookUrl: 'webhookUrl' in o ? o.webhookUrl : 'https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/abc/u',
        appType: 'Connector', userObjectId: 'user-1',
      }), o.hostDelayMs || 0),
      setSettings: (s, cb) => {
        state.setSettings.push(s);
        setTimeout(() => (o.setSettingsFails ? cb(false, 'host said no') : cb(true)), 0);
      },
      setValidityState: (v) => { state.validity.push(v); },
      registerOnSaveHandler: (h) => {
        if (context.page.frameContext !== 'settings') throw new Error('only allowed in following contexts: settings');
        state.registered.push('save'); save = h;
      },
      registerOnRemoveHandler: (h) => { state.registered.push('remove'); remove = h; },
    },
  };
  const responses = o.responses || {};
  window.fetch = async (input, init) => {
    const req = input instanceof Request ? input : new Request(input, init);
    const url = new URL(req.url, location.href);
    const body = ['PUT', 'POST'].includes(req.method) ? await req.text() : null;
    state.requests.push({ method: req.method, path: url.pathname, query: url.search, body, webhook: req.headers.get('x-teams-webhook-url'),
      editKey: req.headers.get('x-connector-edit-key'), authorization: req.headers.get('authorization') });
    const json = (status, value) => new Response(value === null ? null : JSON.stringify(value),
      { status, headers: { 'content-type': 'application/json' } });
    if (url.pathname.endsWith('/config.json')) {
      return o.config ? json(200, o.config) : json(404, { error: 'not_found', message: 'no config' });
    }
    // A response for `METHOD last-segment` (e.g. "GET deliveries") wins over one for the method.
    let r = responses[`${req.method} ${url.pathname.split('/').pop()}`] ?? responses[req.method];
    // A list answers in turn, its last answer from then on.
    if (Array.isArray(r)) r = r.length > 1 ? r.shift() : r[0];
    if (!r) return json(404, { error: 'not_found', message: 'connection not found' });
    if (r.network) throw new TypeError('Failed to fetch');
    if (r.hang) {
      // A server that never answers: only the page's abort ends the request.
      return new Promise((_, reject) => req.signal.addEventListener('abort', () => {
        state.aborted.push(req.method);
        reject(new DOMException('The user aborted a request.', 'AbortError'));
      }));
    }
    if (r.echo) {
      const sent = JSON.parse(body);
      const id = decodeURIComponent(url.pathname.split('/').pop());
      return json(201, { entityId: id, configName: sent.settings[r.nameField || 'subscription_name'], settings: sent.settings,
        createdAt: '2026-11-24T12:00:00Z', updatedAt: '2026-11-24T12:00:00Z', ...(r.editKey ? { editKey: r.editKey } : {}),
        // `kind`: the webhookKind the server would name (`bot` when the save sent `bot`).
        ...(r.kind ? { webhookKind: r.kind === 'auto' ? (sent.bot ? 'bot' : 'workflows') : r.kind } : {}) });
    }
    return json(r.status, r.body === undefined ? null : r.body);
  };
}

export function state_json() {
  return JSON.stringify(state);
}

function pressEvent(kind) {
  return new Promise((resolve) => {
    const h = state.handlers()[kind];
    if (!h) { resolve('no handler'); return; }
    h({
      notifySuccess: () => { state.notified.push([kind, 'success']); resolve('success'); },
      notifyFailure: (reason) => { state.notified.push([kind, 'failure', reason]); resolve('failure'); },
    });
  });
}

export function press_save() { return pressEvent('save'); }
export function press_remove() { return pressEvent('remove'); }
export function change_theme(t) { state.handlers().theme(t); }
