// What the emulator remembers between reloads (localStorage), and the small pure helpers
// around it: minting webhook URLs in Teams' shapes (connector webhooks in each form, and
// Workflows webhooks), finding an inbox, masking secrets. Kept free of DOM code so that the
// rules are easy to read in one place.

const STORE_INSTANCES = 'teams-emulator.instances';
const STORE_CONTEXT = 'teams-emulator.context';
const STORE_WORKFLOWS = 'teams-emulator.workflows';

/**
 * The identity and place Teams would report to the page. Ids look like real ones (a tenant
 * GUID, `19:…@thread.tacv2` channel ids) so that the page's parsing is exercised as in Teams.
 */
export const defaultContext = Object.freeze({
  locale: 'en-US', theme: 'default', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  userObjectId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', userPrincipalName: 'megan@contoso.example',
  teamId: '19:8f4c2a1e0b7d4c559e617a0d3f1b2c4d@thread.tacv2', channelId: '19:5d7e9a2b3c4f4e1a8b6c0d2e4f6a8b0c@thread.tacv2',
  channelName: 'General', teamName: 'Contoso Engineering', hostClientType: 'web',
  // The team's Microsoft 365 group: connector webhook URLs name it (`<groupId>@<tid>`).
  groupId: '0b4f2a1e-6c3d-4e5f-8a9b-1c2d3e4f5a6b',
  // Which token the dev identity provider signs for getAuthToken (good or deliberately bad).
  tokenVariant: 'valid',
  // Connector mode: the form of the webhook URLs Teams hands out (Teams moved from the legacy
  // outlook.office.com/webhook/ form to webhookb2/, and newer URLs add a V2 segment) ...
  webhookForm: 'webhookb2',
  // ... and what Teams hands the page when a connector is configured again: the stored
  // webhook, a new webhook of the same team (microsoft-teams-library-js#2290), or another
  // team's.
  webhookOnEdit: 'stored',
});

/** The context fields that steer the emulator itself; getContext does not report them. */
export const EMULATOR_SETTINGS = ['tokenVariant', 'webhookForm', 'webhookOnEdit'];

/** Reads JSON from localStorage; anything unreadable (or storage disabled) gives `fallback`. */
function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

function store(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* private mode: keep it in memory */ }
}

/**
 * The apps configured in "this channel", oldest first: connectors (`kind` 'connector', with
 * the webhook URL Teams minted) and configurable tabs (`kind` 'tab', with what the page saved).
 */
export function loadInstances() {
  const list = load(STORE_INSTANCES, []);
  // A hand-edited or older store may hold junk: keep only records we can act on.
  return Array.isArray(list)
    ? list.filter((i) => i && typeof i.entityId === 'string' && (i.kind === 'tab' ? typeof i.contentUrl === 'string' : typeof i.webhookUrl === 'string'))
      .map((i) => ({ ...i, kind: i.kind === 'tab' ? 'tab' : 'connector' }))
    : [];
}
export const saveInstances = (list) => store(STORE_INSTANCES, list);

/** The Workflows webhooks created in "this channel" ({id, name, url, created}). */
export function loadWorkflows() {
  const list = load(STORE_WORKFLOWS, []);
  return Array.isArray(list) ? list.filter((w) => w && typeof w.id === 'string' && typeof w.url === 'string') : [];
}
export const saveWorkflows = (list) => store(STORE_WORKFLOWS, list);

export function loadContext() {
  const saved = load(STORE_CONTEXT, {});
  return { ...defaultContext, ...(saved && typeof saved === 'object' ? saved : {}) };
}
export const saveContext = (context) => store(STORE_CONTEXT, context);

export const guid = () => crypto.randomUUID();
const hex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');

const base64url = (bytes) => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(bytes))))
  .replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');

/**
 * A connector webhook URL in the real shape
 * (`…/webhookb2/<groupId>@<tenantId>/IncomingWebhook/<32 hex>/<userObjectId>`), but on this
 * origin's inbox, so the server's URL validation and the delivery path run as with Teams.
 * `group` defaults to the context's team; `form` is webhookb2, legacy or webhookb2-v2.
 */
export function mintWebhookUrl(context, { group = context.groupId, form = context.webhookForm } = {}) {
  const ids = { group, tenant: context.tid, id: hex(16), user: context.userObjectId, v2: `V2${base64url(24)}` };
  return webhookUrlOf(ids, form);
}

function webhookUrlOf({ group, tenant, id, user, v2 }, form) {
  const prefix = form === 'legacy' ? 'webhook' : 'webhookb2';
  const tail = form === 'webhookb2-v2' ? `/${v2 ?? `V2${base64url(24)}`}` : '';
  return `${location.origin}/emulator/webhook/${prefix}/${group}@${tenant}/IncomingWebhook/${id}/${user}${tail}`;
}

/** The ids in an inbox connector webhook URL, or null for any other URL. */
export function webhookIds(url) {
  const m = /\/emulator\/webhook\/webhookb?2?\/([^/@]+)@([^/]+)\/IncomingWebhook\/([^/]+)\/([^/?#]+)(?:\/(V2[^/?#]*))?/.exec(String(url));
  return m ? { group: m[1], tenant: m[2], id: m[3], user: m[4], v2: m[5] } : null;
}

/** The same connector webhook in another form (Teams' migrations); other URLs unchanged. */
export function inForm(url, form) {
  const ids = webhookIds(url);
  return ids ? webhookUrlOf(ids, form) : url;
}

/**
 * The shapes of Workflows webhook URL Power Automate has handed out, by the name the
 * emulator's switch uses, with its label (docs/teams.md, "Today's Teams"). `today` is what a workflow made now gets; the others are for trying the page against the
 * rest: older URLs still in use, one copied with a trailing slash, the Logic Apps shape that
 * stopped working on 2025-11-30, and a flow that takes only signed-in callers (no `sig`).
 */
export const WORKFLOWS_SHAPES = Object.freeze({
  today: 'Today (…/direct/cu/NN/workflows/…)',
  '2025': '2025 shape (no cu/NN)',
  'trailing-slash': 'Trailing slash (…/paths/invoke/?…)',
  retired: 'Retired Logic Apps shape (stopped 2025-11-30)',
  'sign-in': 'Sign-in required (no sig)',
});

/**
 * A Workflows webhook URL as Teams' template "Send webhook alerts to a channel" shows it, in
 * `shape` (a key of WORKFLOWS_SHAPES; today's by default), on this origin's inbox, which
 * answers it with 202 like Power Automate.
 */
export function mintWorkflowsUrl(shape = 'today') {
  if (!(shape in WORKFLOWS_SHAPES)) throw new Error(`unknown Workflows URL shape '${shape}'`);
  const id = hex(16);
  const base = `${location.origin}/emulator/webhook/`;
  const sig = shape === 'sign-in' ? '' : `&sig=${base64url(32)}`;
  const query = `sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0${sig}`;
  if (shape === 'retired') {
    return `${base}workflows/${id}/triggers/manual/paths/invoke?api-version=2016-06-01&${query}`;
  }
  // A two-digit routing segment, varying per URL like Power Automate's.
  const cu = shape === '2025' ? '' : `cu/${String(crypto.getRandomValues(new Uint8Array(1))[0] % 100).padStart(2, '0')}/`;
  const slash = shape === 'trailing-slash' ? '/' : '';
  return `${base}powerautomate/automations/direct/${cu}workflows/${id}/triggers/manual/paths/invoke${slash}?api-version=1&${query}`;
}

const INBOX_MARKER = '/emulator/webhook/';

/**
 * The inbox key of a webhook URL (its path after `/emulator/webhook/`, without the query),
 * or null for a real one. The server files every form of one connector webhook together.
 */
export function inboxPath(url) {
  const i = typeof url === 'string' ? url.indexOf(INBOX_MARKER) : -1;
  return i < 0 ? null : url.slice(i + INBOX_MARKER.length).split(/[?#]/)[0];
}

/**
 * Hides secrets in text shown to people: a webhook URL is a credential (anyone holding it can
 * post to the channel), so only its origin and first path segment stay; sign-in tokens (JWTs)
 * keep a few characters, and so do edit keys (in the fragment of a tab's contentUrl). Other
 * URLs with one path segment, such as contentUrl, stay readable.
 */
export function maskSecrets(text) {
  return text
    .replace(/(https?:\/\/[^/\s"]+\/[^/\s"?#]+\/)[^\s"]+/g, '$1…')
    .replace(/(eyJ[\w-]{6})[\w-]*\.[\w-]+\.[\w-]*/g, '$1…')
    .replace(/(editKey=[0-9a-f]{4})[0-9a-f]*/gi, '$1…');
}

/** A URL string if it is absolute http(s) (after resolving against this page), else null. */
export function httpUrl(value, base = location.href) {
  try {
    const u = new URL(String(value), base);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch { return null; }
}
