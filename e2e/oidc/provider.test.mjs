// The loopback identity provider by itself: discovery, a whole authorization code flow with PKCE
// through its login and consent pages (plain fetch, a cookie jar of a few lines), the ID token's
// claims checked against the JWKS, and the refusals the server and the e2e tests rely on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createPublicKey, createVerify, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { startProvider } from './start.mjs';

const REDIRECT = 'http://127.0.0.1:9/auth/callback.html';
const OTHER_REDIRECT = 'http://127.0.0.1:9/other/callback';

/** fetch that keeps cookies and never follows redirects. */
function browser() {
  const jar = new Map();
  return async (url, init = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...init.headers, ...(cookie ? { cookie } : {}) } });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const [name, value] = [pair.slice(0, i).trim(), pair.slice(i + 1)];
      if (!value || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name); else jar.set(name, value);
    }
    return res;
  };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');

function pkce() {
  const verifier = b64url(randomBytes(32));
  return { verifier, challenge: b64url(createHash('sha256').update(verifier).digest()) };
}

function authorizeUrl(config, { clientId = 'uptime-watch-teams', redirect = REDIRECT, challenge, state, nonce, method = 'S256' }) {
  const u = new URL(config.authorization_endpoint);
  const params = { response_type: 'code', client_id: clientId, redirect_uri: redirect, scope: 'openid profile', state, nonce };
  if (challenge) Object.assign(params, { code_challenge: challenge, code_challenge_method: method });
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u;
}

const form = (fields) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

/**
 * Walks the login and consent pages as a person would; `decision` is 'allow' or 'deny'.
 * Resolves with the redirect URI's query.
 */
async function signIn(get, url, username, decision = 'allow') {
  let res = await get(url);
  assert.equal(res.status, 303, `authorization answered ${res.status}: ${await res.text()}`);
  const interaction = new URL(res.headers.get('location'), url);
  res = await get(interaction);
  const login = await res.text();
  assert.match(login, /id="login-username"/);
  assert.match(login, /id="login-submit"/);
  res = await get(new URL(`${interaction.pathname}/login`, interaction), form({ username }));
  assert.equal(res.status, 303);
  res = await get(new URL(res.headers.get('location'), interaction));
  const consent = await res.text();
  assert.match(consent, /id="consent-allow"/);
  assert.match(consent, /id="consent-deny"/);
  res = await get(new URL(`${interaction.pathname}/${decision === 'allow' ? 'confirm' : 'abort'}`, interaction), form({}));
  // Back through the resume endpoint to the client's redirect URI; another user than the
  // session's first passes the provider's self-submitting logout form, as a browser would.
  for (let hops = 0; hops < 8 && !res.headers.get('location')?.startsWith('http://127.0.0.1:9/'); hops++) {
    if (res.status === 200) {
      const html = await res.text();
      const action = html.match(/<form method="post" action="([^"]+)"/)?.[1];
      assert.ok(action, `expected a redirect or a form, got: ${html}`);
      const fields = Object.fromEntries([...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1], m[2]]));
      res = await get(action, form(fields));
      continue;
    }
    assert.ok([302, 303].includes(res.status), `expected a redirect, got ${res.status}: ${await res.text()}`);
    res = await get(new URL(res.headers.get('location'), interaction));
  }
  return new URL(res.headers.get('location'));
}

async function token(config, code, verifier, { clientId = 'uptime-watch-teams', secret = 'the-secret', redirect = REDIRECT } = {}) {
  const res = await fetch(config.token_endpoint, {
    ...form({ grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: redirect }),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`,
    },
  });
  return { status: res.status, body: await res.json() };
}

/** Verifies an RS256 ID token with the provider's JWKS; returns its payload. */
async function verifyIdToken(config, idToken) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(header.alg, 'RS256');
  const { keys } = await (await fetch(config.jwks_uri)).json();
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `the JWKS has the token's key "${header.kid}"`);
  const ok = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url'));
  assert.ok(ok, 'the ID token signature verifies');
  return JSON.parse(Buffer.from(p, 'base64url'));
}

let provider;
let config;
before(async () => {
  provider = await startProvider(['--port', '0', '--client-id', 'uptime-watch-teams', '--client-secret', 'the-secret',
    '--redirect-uri', REDIRECT, '--client', `other-app:other-secret:${OTHER_REDIRECT}`]);
  config = await (await fetch(`${provider.issuer}/.well-known/openid-configuration`)).json();
});
after(async () => { await provider?.stop(); });

test('discovery names the loopback issuer, S256 and the profile claims', () => {
  assert.match(provider.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(config.issuer, provider.issuer);
  assert.deepEqual(config.code_challenge_methods_supported, ['S256']);
  assert.ok(config.scopes_supported.includes('profile'));
  for (const claim of ['sub', 'name', 'org']) assert.ok(config.claims_supported.includes(claim), claim);
  assert.ok(config.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
});

test('a code flow with PKCE gives an ID token with org and name, and the code works once', async () => {
  const get = browser();
  const { verifier, challenge } = pkce();
  const state = b64url(randomBytes(16));
  const nonce = b64url(randomBytes(16));
  const back = await signIn(get, authorizeUrl(config, { challenge, state, nonce }), 'alice');
  assert.equal(back.origin + back.pathname, REDIRECT);
  assert.equal(back.searchParams.get('state'), state);
  const code = back.searchParams.get('code');
  assert.ok(code, `a code in ${back}`);

  const wrongVerifier = await token(config, code, pkce().verifier);
  assert.equal(wrongVerifier.status, 400);
  assert.equal(wrongVerifier.body.error, 'invalid_grant');

  // A failed check spends the code, as a replay would: the real exchange uses a fresh one.
  const get2 = browser();
  const fresh = pkce();
  const back2 = await signIn(get2, authorizeUrl(config, { challenge: fresh.challenge, state, nonce }), 'alice');
  const code2 = back2.searchParams.get('code');
  const first = await token(config, code2, fresh.verifier);
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const claims = await verifyIdToken(config, first.body.id_token);
  assert.equal(claims.iss, provider.issuer);
  assert.equal(claims.aud, 'uptime-watch-teams');
  assert.equal(claims.nonce, nonce);
  assert.equal(claims.sub, 'alice');
  assert.equal(claims.org, 'acme');
  assert.equal(claims.name, 'Alice Example');
  assert.ok(claims.exp > Date.now() / 1000);

  const replay = await token(config, code2, fresh.verifier);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, 'invalid_grant');
});

test('bob signs in after alice in the same browser: every authorization asks who signs in', async () => {
  const get = browser();
  for (const [user, org, name] of [['alice', 'acme', 'Alice Example'], ['bob', 'globex', 'Bob Example']]) {
    const { verifier, challenge } = pkce();
    const back = await signIn(get, authorizeUrl(config, { challenge, state: 's', nonce: user }), user);
    const { status, body } = await token(config, back.searchParams.get('code'), verifier);
    assert.equal(status, 200);
    const claims = await verifyIdToken(config, body.id_token);
    assert.deepEqual([claims.org, claims.name, claims.nonce], [org, name, user]);
  }
});

test('the second client gets tokens for its own audience only', async () => {
  const { verifier, challenge } = pkce();
  const back = await signIn(browser(), authorizeUrl(config, { clientId: 'other-app', redirect: OTHER_REDIRECT, challenge, state: 's', nonce: 'n' }), 'bob');
  const wrongClient = await token(config, back.searchParams.get('code'), verifier, { redirect: OTHER_REDIRECT });
  assert.equal(wrongClient.body.error, 'invalid_grant', 'a code for other-app is no good to uptime-watch-teams');
  const { verifier: v2, challenge: c2 } = pkce();
  const back2 = await signIn(browser(), authorizeUrl(config, { clientId: 'other-app', redirect: OTHER_REDIRECT, challenge: c2, state: 's', nonce: 'n' }), 'bob');
  const { status, body } = await token(config, back2.searchParams.get('code'), v2,
    { clientId: 'other-app', secret: 'other-secret', redirect: OTHER_REDIRECT });
  assert.equal(status, 200);
  assert.equal((await verifyIdToken(config, body.id_token)).aud, 'other-app');
});

test('denying consent ends at the redirect URI with access_denied', async () => {
  const { challenge } = pkce();
  const back = await signIn(browser(), authorizeUrl(config, { challenge, state: 'st', nonce: 'n' }), 'bob', 'deny');
  assert.equal(back.origin + back.pathname, REDIRECT);
  assert.equal(back.searchParams.get('error'), 'access_denied');
  assert.equal(back.searchParams.get('state'), 'st');
  assert.equal(back.searchParams.get('code'), null);
});

test('PKCE is required, a wrong secret and an unknown user are refused', async () => {
  const res = await fetch(authorizeUrl(config, { state: 's', nonce: 'n' }), { redirect: 'manual' });
  const back = new URL(res.headers.get('location'));
  assert.equal(back.searchParams.get('error'), 'invalid_request');
  assert.match(back.searchParams.get('error_description'), /requires PKCE/);

  const get = browser();
  const { verifier, challenge } = pkce();
  const start = await get(authorizeUrl(config, { challenge, state: 's', nonce: 'n' }));
  const interaction = new URL(start.headers.get('location'), config.issuer);
  const unknown = await get(new URL(`${interaction.pathname}/login`, interaction), form({ username: 'mallory' }));
  assert.equal(unknown.status, 200);
  assert.match(await unknown.text(), /there is no user &#34;mallory&#34;/);

  const back2 = await signIn(browser(), authorizeUrl(config, { challenge, state: 's', nonce: 'n' }), 'alice');
  const wrong = await token(config, back2.searchParams.get('code'), verifier, { secret: 'not-it' });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error, 'invalid_client');
});

test('the provider stops when its stdin closes', async () => {
  const p = await startProvider(['--port', '0', '--client-id', 'c', '--client-secret', 's', '--redirect-uri', REDIRECT]);
  p.proc.stdin.end();
  assert.equal(await p.exited, 0);
});

test('bad arguments are refused naming them', async () => {
  const run = (args) => new Promise((ok) => {
    const proc = spawn(process.execPath, [join(import.meta.dirname, 'provider.mjs'), ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    proc.stderr.on('data', (d) => { err += d; });
    proc.on('exit', (code) => ok({ code, err }));
  });
  const noSecret = await run(['--client-id', 'c', '--redirect-uri', REDIRECT]);
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.err, /--client-secret is required/);
  const badClient = await run(['--client-id', 'c', '--client-secret', 's', '--redirect-uri', REDIRECT, '--client', 'nocolons']);
  assert.match(badClient.err, /--client "nocolons" is not ID:SECRET:REDIRECT/);
});
