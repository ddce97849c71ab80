// The first page of the sign-in popup that `authentication.authenticate` opens: it asks the
// server where the service's sign-in is, keeps a fresh `state`, `nonce` and PKCE verifier in
// this window's sessionStorage (callback.js, on the same origin in the same window, reads
// them back) and goes there. No secret is here: the server exchanges the code.
'use strict';

/** What callback.js reads back from sessionStorage. */
const KEPT = 'connector-account-sign-in';

const status = (text) => { document.getElementById('auth-status').textContent = text; };

/** `bytes` random bytes as base64url without padding. */
function randomText(bytes) {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return base64url(b);
}

function base64url(bytes) {
  let s = '';
  for (const c of new Uint8Array(bytes)) s += String.fromCharCode(c);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

async function s256(text) {
  return base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)));
}

/** The configuration page's directory: this page lives in its `auth/`. */
const pageBase = new URL('../', location.href);

/** The deployment values, as the page reads them: a missing config.json means defaults. */
async function runtimeConfig() {
  const res = await fetch(new URL('config.json', pageBase), { credentials: 'same-origin' });
  if (res.status === 404) return {};
  if (!res.ok) throw new Error(`config.json answered ${res.status}`);
  return res.json();
}

async function start() {
  const config = await runtimeConfig();
  // The same extra host origins as the page (an emulator on another origin).
  const origins = config.validMessageOrigins || [];
  await microsoftTeams.app.initialize(origins.length ? origins : undefined);
  const api = String(config.apiBaseUrl || '').replace(/\/+$/, '');
  const res = await fetch(`${api}/api/account`);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${body.error || 'account_unavailable'}: ${body.message || `the server answered ${res.status}`}`);
  // 32 random bytes: a 43-character verifier, the shortest RFC 7636 allows.
  const kept = { state: randomText(32), nonce: randomText(32), codeVerifier: randomText(32) };
  const redirectUri = new URL('auth/callback.html', pageBase).href;
  sessionStorage.setItem(KEPT, JSON.stringify({ ...kept, redirectUri }));
  const scopes = new Set(['openid', ...(body.scopes || [])]);
  const url = new URL(body.authorizationEndpoint);
  const q = url.searchParams;
  q.set('response_type', 'code');
  q.set('client_id', body.clientId);
  q.set('redirect_uri', redirectUri);
  q.set('scope', [...scopes].join(' '));
  q.set('state', kept.state);
  q.set('nonce', kept.nonce);
  q.set('code_challenge', await s256(kept.codeVerifier));
  q.set('code_challenge_method', 'S256');
  location.assign(url.href);
}

start().catch((e) => {
  const why = e && e.message ? e.message : String(e);
  status(`The sign-in could not start: ${why}`);
  // The configuration page hears why; an SDK that never initialized cannot tell it.
  try { microsoftTeams.authentication.notifyFailure(`start_failed: ${why}`); } catch { /* shown above */ }
});
