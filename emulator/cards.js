// Renders what a webhook received the way a Teams channel shows it: connector MessageCards
// and Adaptive Card message attachments. Card JSON comes from the server under test, so it
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

/** Adaptive elements, recursively; `depth` guards against absurdly nested JSON. */
function renderAdaptiveElements(parent, items, depth = 0) {
  if (!Array.isArray(items)) return;
  if (depth > 12) { parent.append(el('pre', { text: '(nested too deeply)' })); return; }
  for (const item of items) {
    if (!item || typeof item !== 'object') continue;
    switch (item.type) {
      case 'TextBlock': {
        const cls = ['text'];
        if (item.weight === 'Bolder' || item.weight === 'bolder') cls.push('bold');
        if (['Large', 'ExtraLarge', 'large', 'extraLarge'].includes(item.size)) cls.push('large');
        if (item.isSubtle) cls.push('subtle');
        if (['Attention', 'Warning', 'Good', 'Accent'].includes(item.color)) cls.push(`color-${item.color.toLowerCase()}`);
        parent.append(el('p', { class: cls.join(' '), text: item.text }));
        break;
      }
      case 'RichTextBlock':
        parent.append(el('p', { class: 'text', text: (item.inlines ?? []).map((i) => (typeof i === 'string' ? i : str(i?.text))).join('') }));
        break;
      case 'FactSet': add(parent, facts(item.facts)); break;
      case 'Image': add(parent, safeImage(item.url, item.altText, item.style === 'Person' ? 'avatar' : null)); break;
      case 'ImageSet': for (const img of item.images ?? []) add(parent, safeImage(img?.url, img?.altText)); break;
      case 'Container': {
        const box = el('div', { class: `container${item.style ? ` style-${str(item.style).toLowerCase()}` : ''}` });
        renderAdaptiveElements(box, item.items, depth + 1);
        parent.append(box);
        break;
      }
      case 'ColumnSet': {
        const row = el('div', { class: 'columns' });
        for (const col of Array.isArray(item.columns) ? item.columns : []) {
          const cell = el('div', { class: `column${col?.width === 'auto' ? ' auto' : ''}` });
          renderAdaptiveElements(cell, col?.items, depth + 1);
          row.append(cell);
        }
        parent.append(row);
        break;
      }
      case 'ActionSet': add(parent, actionRow(adaptiveActions(item.actions))); break;
      default: parent.append(el('pre', { class: 'unknown', text: JSON.stringify(item, null, 2) }));
    }
  }
}

function adaptiveActions(actions) {
  if (!Array.isArray(actions)) return [];
  return actions.map((a) => (a?.type === 'Action.OpenUrl'
    ? safeLink(a.url, a.title)
    : el('span', { class: 'button link-blocked', title: `${str(a?.type)} is not shown by the emulator`, text: str(a?.title) || '?' })));
}

function renderAdaptive(card, content) {
  if (content?.type !== 'AdaptiveCard') { card.append(el('pre', { text: JSON.stringify(content, null, 2) })); return; }
  renderAdaptiveElements(card, content.body);
  add(card, actionRow(adaptiveActions(content.actions)));
}

/**
 * One received POST ({receivedAt, headers, body}) as a channel post: `.card` with a meta line
 * (time and idempotency key), then the card, or the raw JSON/text when it is neither kind.
 */
export function renderPost(message) {
  const body = message?.body;
  const card = el('article', { class: 'card' });
  const when = new Date(message?.receivedAt);
  const key = message?.headers?.['idempotency-key'];
  card.append(el('div', { class: 'meta', text: `${Number.isNaN(when.getTime()) ? '?' : when.toLocaleString()} · ${key ? `idempotency key ${key}` : 'no idempotency key'}` }));
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
