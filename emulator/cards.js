// Renders what a webhook received the way a Teams channel shows it: connector MessageCards
// (here) and Adaptive Card message attachments (Microsoft's renderer). Card JSON comes from the server under test, so it
// is untrusted: every text goes through textContent, links must be http(s) and open with
// rel=noopener, images must be http(s) or data:image, and anything unknown is shown raw.

/** Builds an element; `text` sets textContent (never HTML), other keys become attributes. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = String(v); else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

/** Appends only real nodes (the builders return null for what is left out). */
const add = (parent, node) => { if (node) parent.append(node); };

const str = (v) => (v == null ? '' : typeof v === 'string' ? v : String(v));

/** A link button for http(s) targets; anything else (javascript:, data:) becomes plain text. */
function safeLink(url, text) {
  let u = null;
  try { u = new URL(str(url)); } catch { /* not a URL */ }
  if (!u || (u.protocol !== 'https:' && u.protocol !== 'http:')) {
    return el('span', { class: 'button link-blocked', title: 'link not shown: not an http(s) URL', text: str(text) || 'Open' });
  }
  return el('a', { href: u.href, target: '_blank', rel: 'noopener noreferrer', class: 'button', text: str(text) || 'Open' });
}

function safeImage(url, alt, cls) {
  try {
    const u = new URL(str(url));
    const ok = u.protocol === 'https:' || u.protocol === 'http:' || (u.protocol === 'data:' && u.href.startsWith('data:image/'));
    return ok ? el('img', { src: u.href, alt: str(alt), class: cls, loading: 'lazy', referrerpolicy: 'no-referrer' }) : null;
  } catch { return null; }
}

/** MessageCard facts use name/value, Adaptive FactSets title/value. */
function facts(list) {
  if (!Array.isArray(list) || !list.length) return null;
  const dl = el('dl', { class: 'facts' });
  for (const f of list) dl.append(el('dt', { text: str(f?.name ?? f?.title) }), el('dd', { text: str(f?.value) }));
  return dl;
}

function actionRow(links) {
  const row = el('div', { class: 'actions' }, ...links.filter(Boolean));
  return row.childElementCount ? row : null;
}

/** Only a plain 3- or 6-digit hex colour may become the card's accent (it goes into CSS). */
function accent(card, color) {
  const m = /^#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})$/.exec(str(color));
  // CSSOM, not a style attribute: allowed under style-src 'self'.
  if (m) card.style.setProperty('--accent', `#${m[1]}`);
}

function renderMessageCard(card, c) {
  accent(card, c.themeColor);
  if (c.title) card.append(el('h3', { class: 'title', text: c.title }));
  // Teams shows `summary` only in notifications; it stands in for the text when there is none.
  if (c.text) card.append(el('p', { class: 'text', text: c.text }));
  else if (c.summary && !c.title && !Array.isArray(c.sections)) card.append(el('p', { class: 'text', text: c.summary }));
  for (const s of Array.isArray(c.sections) ? c.sections : []) {
    if (!s || typeof s !== 'object') continue;
    const section = el('div', { class: 'section' });
    if (s.title) section.append(el('h4', { class: 'section-title', text: s.title }));
    if (s.activityTitle || s.activitySubtitle || s.activityImage || s.activityText) {
      section.append(el('div', { class: 'activity' },
        s.activityImage ? safeImage(s.activityImage, '', 'avatar') : null,
        el('div', {},
          s.activityTitle ? el('p', { class: 'activity-title', text: s.activityTitle }) : null,
          s.activitySubtitle ? el('p', { class: 'subtle', text: s.activitySubtitle }) : null,
          s.activityText ? el('p', { class: 'text', text: s.activityText }) : null)));
    }
    if (s.text) section.append(el('p', { class: 'text', text: s.text }));
    add(section, facts(s.facts));
    for (const img of Array.isArray(s.images) ? s.images : []) add(section, safeImage(img?.image, img?.title));
    add(section, actionRow(openUriLinks(s.potentialAction)));
    card.append(section);
  }
  add(card, actionRow(openUriLinks(c.potentialAction)));
}

/** OpenUri actions (targets: [{os, uri}]); the legacy ViewAction form has `target: [uri]`. */
function openUriLinks(actions) {
  if (!Array.isArray(actions)) return [];
  return actions.map((a) => {
    const target = a?.targets?.find?.((t) => !t?.os || t.os === 'default')?.uri ?? a?.targets?.[0]?.uri ?? a?.target?.[0];
    return target ? safeLink(target, a.name) : el('span', { class: 'button link-blocked', title: `${str(a?.['@type'])} is not shown by the emulator`, text: str(a?.name) || '?' });
  });
}

/**
 * Adaptive Cards are rendered by Microsoft's own renderer (the npm package `adaptivecards`,
 * served in dev mode at `vendor/adaptivecards.js` and loaded by index.html), with Teams' host
 * config (`teams-host-config.json`), so what the inbox shows is what a channel shows. What the
 * renderer reports while parsing (unknown elements, invalid values, missing properties at the
 * card's version) is shown under the card, as Teams would drop or refuse it.
 */
let hostConfig = null;
export async function loadHostConfig() {
  try {
    const res = await fetch(new URL('teams-host-config.json', import.meta.url));
    hostConfig = res.ok ? await res.json() : null;
  } catch { hostConfig = null; }
}

/** What Microsoft's parser says is wrong with `content` at its declared version. */
export function adaptiveProblems(AC, content) {
  const problems = [];
  const [major, minor] = String(content?.version ?? '').split('.').map(Number);
  if (!Number.isInteger(major) || !Number.isInteger(minor)) {
    return [`the card's version '${str(content?.version)}' is not a version`];
  }
  const context = new AC.SerializationContext(new AC.Version(major, minor));
  const card = new AC.AdaptiveCard();
  card.parse(content, context);
  for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
  for (const e of card.validateProperties().validationEvents) problems.push(e.message);
  return { card, problems };
}

function renderAdaptive(post, content) {
  const AC = globalThis.AdaptiveCards;
  if (content?.type !== 'AdaptiveCard' || !AC) {
    post.append(el('pre', { text: AC ? JSON.stringify(content, null, 2) : 'the Adaptive Cards renderer did not load' }));
    return;
  }
  const checked = adaptiveProblems(AC, content);
  if (Array.isArray(checked)) { post.append(el('p', { class: 'card-problems', text: checked.join('; ') })); return; }
  const { card, problems } = checked;
  if (hostConfig) card.hostConfig = new AC.HostConfig(hostConfig);
  // Links open only when http(s), in a new tab without access back to the emulator.
  card.onExecuteAction = (action) => {
    if (!(action instanceof AC.OpenUrlAction)) return;
    try {
      const u = new URL(str(action.url));
      if (u.protocol === 'https:' || u.protocol === 'http:') window.open(u.href, '_blank', 'noopener,noreferrer');
    } catch { /* not a URL */ }
  };
  const rendered = card.render();
  if (rendered) post.append(rendered);
  if (problems.length) post.append(el('p', { class: 'card-problems', text: `Teams would not show this card as sent: ${problems.join('; ')}` }));
}

/**
 * One received POST ({receivedAt, headers, body}) as a channel post: `.card` with a meta line
 * (time and idempotency key), then the card, or the raw JSON/text when it is neither kind.
 * With `postedBy` (a post of the app's bot), the meta line names the bot instead.
 */
export function renderPost(message) {
  const body = message?.body;
  const card = el('article', { class: 'card' });
  const when = new Date(message?.receivedAt);
  const key = message?.headers?.['idempotency-key'];
  const time = Number.isNaN(when.getTime()) ? '?' : when.toLocaleString();
  // A post of the app's bot (through the Bot Connector service) is the bot's, as Teams shows it.
  const by = typeof message?.postedBy === 'string' ? message.postedBy : null;
  if (by) {
    card.classList.add('bot-post');
    card.dataset.postedBy = by;
    card.append(el('div', { class: 'meta', text: `${time} · posted by ${by} (the app's bot)` }));
  } else {
    card.append(el('div', { class: 'meta', text: `${time} · ${key ? `idempotency key ${key}` : 'no idempotency key'}` }));
  }
  if (body && typeof body === 'object' && body['@type'] === 'MessageCard') {
    renderMessageCard(card, body);
  } else if (body && typeof body === 'object' && body.type === 'message' && Array.isArray(body.attachments)) {
    if (body.text) card.append(el('p', { class: 'text', text: body.text }));
    for (const a of body.attachments) {
      if (a?.contentType === 'application/vnd.microsoft.card.adaptive') renderAdaptive(card, a.content);
      else card.append(el('pre', { text: JSON.stringify(a, null, 2) }));
    }
  } else {
    card.classList.add('raw');
    card.append(el('pre', { text: typeof body === 'string' ? body : JSON.stringify(body, null, 2) }));
  }
  return card;
}
