// The reference configuration page, by hand: what a Microsoft sample does, for the same form.
// app.initialize, the save handler, setValidityState on every input, and on Save getSettings,
// PUT to the API, setSettings and notifySuccess. `cargo xtask bench page` times it beside ours.
const form = document.getElementById('form');
const apiBaseUrl = document.body.dataset.apiBaseUrl.replace(/\/$/, '');
const validOrigins = document.body.dataset.validOrigins.split(' ').filter(Boolean);
const touched = new Set();

/** Each field's value, by the field's kind. */
function values() {
  const out = {};
  for (const field of form.querySelectorAll('[data-field]')) {
    const id = field.dataset.field;
    const inputs = [...field.querySelectorAll('input')];
    switch (field.dataset.kind) {
      case 'text': out[id] = inputs[0].value; break;
      case 'single_choice': out[id] = inputs.find((i) => i.checked)?.value ?? ''; break;
      case 'multi_choice': out[id] = inputs.filter((i) => i.checked).map((i) => i.value); break;
      case 'toggle': out[id] = inputs[0].checked; break;
      default: throw unknownKind(field);
    }
  }
  return out;
}

/** The message for a field's value, or '' when it is valid. */
function problem(field, value) {
  const d = field.dataset;
  switch (d.kind) {
    case 'text': {
      const length = [...value.trim()].length;
      if (d.required === 'true' && length === 0) return 'Enter a value.';
      if (length > 0 && length < Number(d.minLength)) return `Use at least ${d.minLength} characters.`;
      if (length > Number(d.maxLength)) return `Use at most ${d.maxLength} characters.`;
      if (length > 0 && d.pattern && !new RegExp(`^(?:${d.pattern})$`, 'u').test(value)) return d.patternHelp;
      return '';
    }
    case 'single_choice': return '';
    case 'multi_choice': return value.length < Number(d.minSelected) ? `Choose at least ${d.minSelected}.` : '';
    case 'toggle': return '';
    default: throw unknownKind(field);
  }
}

/**
 * A kind this page does not know (one added to connector.toml's kinds, settings/src/model.rs):
 * JavaScript has no exhaustive match, so the page stops loudly rather than skip the field.
 */
function unknownKind(field) {
  return new Error(`reference.js: field '${field.dataset.field}' has kind '${field.dataset.kind}', which this page does not handle`);
}

/** Shows the messages of touched fields and tells Teams whether Save may be pressed. */
function validate() {
  const v = values();
  let valid = true;
  for (const field of form.querySelectorAll('[data-field]')) {
    const message = problem(field, v[field.dataset.field]);
    valid &&= message === '';
    const shown = touched.has(field.dataset.field) ? message : '';
    field.querySelector('.field-error').textContent = shown;
    field.classList.toggle('invalid', shown !== '');
  }
  microsoftTeams.settings.setValidityState(valid);
  return valid;
}

form.addEventListener('input', (e) => {
  touched.add(e.target.closest('[data-field]').dataset.field);
  validate();
});
form.addEventListener('submit', (e) => e.preventDefault());

function notice(kind, text) {
  const bar = document.createElement('div');
  bar.className = `message-bar ${kind}`;
  bar.textContent = text;
  document.getElementById('notice').replaceChildren(bar);
}

/** Save: store the connection, then hand Teams the settings, then answer. */
function onSave(saveEvent) {
  microsoftTeams.settings.getSettings(async (settings) => {
    try {
      const entityId = settings.entityId || new URLSearchParams(location.search).get('entityId') || crypto.randomUUID();
      const res = await fetch(`${apiBaseUrl}/api/connections/${encodeURIComponent(entityId)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          webhookUrl: settings.webhookUrl, settings: values(), appType: settings.appType, userObjectId: settings.userObjectId,
        }),
      });
      const body = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(body.message || `the server answered ${res.status}`);
      const contentUrl = `${location.origin}${location.pathname}?entityId=${encodeURIComponent(entityId)}`;
      microsoftTeams.settings.setSettings({ entityId, configName: body.configName, contentUrl }, (ok, reason) => {
        if (!ok) { saveEvent.notifyFailure(reason); return; }
        notice('success', 'Saved.');
        saveEvent.notifySuccess();
      });
    } catch (e) {
      notice('error', `Not saved: ${e.message}`);
      saveEvent.notifyFailure(e.message);
    }
  });
}

microsoftTeams.app.initialize(validOrigins).then(() => {
  microsoftTeams.settings.registerOnSaveHandler(onSave);
  validate();
  microsoftTeams.app.notifySuccess();
  microsoftTeams.app.getContext().then((context) => { document.documentElement.dataset.theme = context.app.theme; });
});
