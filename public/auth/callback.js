// The sign-in popup's last page: the service redirected here with `code` and `state` (or
// `error`). It checks `state` against what start.js kept in this window and hands the code,
// the PKCE verifier and the nonce to the configuration page through
// `authentication.notifySuccess`; the server exchanges the code.
'use strict';

const KEPT = 'connector-account-sign-in';

function finish() {
  const q = new URLSearchParams(location.search);
  const kept = JSON.parse(sessionStorage.getItem(KEPT) || 'null');
  // Used once: a reload of this page cannot hand the same code twice.
  sessionStorage.removeItem(KEPT);
  const error = q.get('error');
  if (error) {
    microsoftTeams.authentication.notifyFailure(`consent_refused: ${q.get('error_description') || error}`);
    return;
  }
  if (!kept || !q.get('state') || q.get('state') !== kept.state) {
    microsoftTeams.authentication.notifyFailure('state_mismatch');
    return;
  }
  microsoftTeams.authentication.notifySuccess(JSON.stringify({
    code: q.get('code') || '', codeVerifier: kept.codeVerifier, nonce: kept.nonce, redirectUri: kept.redirectUri,
  }));
}

/** The page's extra host origins (config.json's validMessageOrigins), as start.js reads them. */
async function origins() {
  const res = await fetch(new URL('../config.json', location.href), { credentials: 'same-origin' });
  const list = res.ok ? (await res.json()).validMessageOrigins || [] : [];
  return list.length ? list : undefined;
}

origins().then((o) => microsoftTeams.app.initialize(o)).then(finish).catch((e) => {
  document.getElementById('auth-status').textContent = `The sign-in could not finish: ${e && e.message ? e.message : e}`;
});
