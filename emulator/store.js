// What the emulator remembers between reloads (localStorage), and the small pure helpers
// around it: minting webhook URLs in Teams' shape, finding an inbox, masking secrets.
// Kept free of DOM code so that the rules are easy to read in one place.

const STORE_INSTANCES = 'teams-emulator.instances';
const STORE_CONTEXT = 'teams-emulator.context';

/**
 * The identity and place Teams would report to the page. Ids look like real ones (a tenant
 * GUID, `19:…@thread.tacv2` channel ids) so that the page's parsing is exercised as in Teams.
 */
export const defaultContext = Object.freeze({
  locale: 'en-US', theme: 'default', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  userObjectId: '3f2504e0-4f89-41d3-9a0c-0305e82c3301', userPrincipalName: 'megan@contoso.example',
  teamId: '19:8f4c2a1e0b7d4c559e617a0d3f1b2c4d@thread.tacv2', channelId: '19:5d7e9a2b3c4f4e1a8b6c0d2e4f6a8b0c@thread.tacv2',
  channelName: 'General', teamName: 'Contoso Engineering', hostClientType: 'web',
  // Which token the dev identity provider signs for getAuthToken (good or deliberately bad).
  tokenVariant: 'valid',
});

/** Reads JSON from localStorage; anything unreadable (or storage disabled) gives `fallback`. */
function load(key, fallback) {
  try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; }
}

function store(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* private mode: keep it in memory */ }
}

/** The connector instances configured in "this channel", oldest first. */
export function loadInstances() {
  const list = load(STORE_INSTANCES, []);
  // A hand-edited or older store may hold junk: keep only records we can act on.
  return Array.isArray(list) ? list.filter((i) => i && typeof i.entityId === 'string' && typeof i.webhookUrl === 'string') : [];
}
export const saveInstances = (list) => store(STORE_INSTANCES, list);

export function loadContext() {
  const saved = load(STORE_CONTEXT, {});
  return { ...defaultContext, ...(saved && typeof saved === 'object' ? saved : {}) };
}
export const saveContext = (context) => store(STORE_CONTEXT, context);

export const guid = () => crypto.randomUUID();
const hex = (bytes) => Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * A webhook URL in the real connector shape
 * (`…/webhookb2/<groupId>@<tenantId>/IncomingWebhook/<32 hex>/<userObjectId>`), but on this
 * origin's inbox, so the server's URL validation and the delivery path run as with Teams.
 */
export function mintWebhookUrl(context) {
  return `${location.origin}/emulator/webhook/webhookb2/${guid()}@${context.tid}/IncomingWebhook/${hex(16)}/${context.userObjectId}`;
}

const INBOX_MARKER = '/emulator/webhook/';

/** The inbox key of a webhook URL (its path after `/emulator/webhook/`), or null for a real one. */
export function inboxPath(url) {
  const i = typeof url === 'string' ? url.indexOf(INBOX_MARKER) : -1;
  return i < 0 ? null : url.slice(i + INBOX_MARKER.length);
}

/**
 * Hides secrets in text shown to people: a webhook URL is a credential (anyone holding it can
 * post to the channel), so only its origin and first path segment stay; sign-in tokens (JWTs)
 * keep a few characters. Other URLs with one path segment, such as contentUrl, stay readable.
 */
export function maskSecrets(text) {
  return text
    .replace(/(https?:\/\/[^/\s"]+\/[^/\s"?#]+\/)[^\s"]+/g, '$1…')
    .replace(/(eyJ[\w-]{6})[\w-]*\.[\w-]+\.[\w-]*/g, '$1…');
}

/** A URL string if it is absolute http(s) (after resolving against this page), else null. */
export function httpUrl(value, base = location.href) {
  try {
    const u = new URL(String(value), base);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : null;
  } catch { return null; }
}
