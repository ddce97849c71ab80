// A real OpenID Connect provider on loopback (the npm `oidc-provider` package), playing "the
// sending service" for the server's tests, the end-to-end tests and `cargo xtask run`.
//
//   node e2e/oidc/provider.mjs --port 0 --client-id ID --client-secret S --redirect-uri URL
//     [--redirect-uri URL2] [--client ID2:SECRET2:REDIRECT2]...
//
// Prints one JSON line `{"issuer":"http://127.0.0.1:PORT"}` on stdout once listening, and nothing
// else there (the package's notices go to stderr). Stops on SIGTERM/SIGINT, and when its stdin is
// a pipe or socket that closes (so a parent that dies takes it along).
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { parseArgs } from 'node:util';

// The package writes notices with console.info; stdout carries only the issuer line.
console.info = console.error;
console.log = console.error;
// Two warnings that are the point of a throwaway test provider (Node 20 is what Debian has; its
// state is in memory on purpose) would only hide real ones.
const warn = console.warn;
console.warn = (message, ...rest) => {
  if (/Unsupported runtime|in-memory adapter/.test(String(message))) return;
  warn(message, ...rest);
};
const { default: Provider, interactionPolicy } = await import('oidc-provider');

/** The demo accounts of the service: the id is the login name, `org` is the account. */
const USERS = {
  alice: { org: 'acme', name: 'Alice Example' },
  bob: { org: 'globex', name: 'Bob Example' },
};

function usage(message) {
  process.stderr.write(`provider.mjs: ${message}\n`
    + 'usage: node e2e/oidc/provider.mjs --port N --client-id ID --client-secret S --redirect-uri URL '
    + '[--redirect-uri URL2] [--client ID:SECRET:REDIRECT]...\n');
  process.exit(2);
}

/** The clients from the command line; a repeated id (in `--client`) gains the redirect URI. */
function parseClients(values) {
  if (!values['client-id']) usage('--client-id is required');
  if (!values['client-secret']) usage('--client-secret is required');
  if (!values['redirect-uri']?.length) usage('at least one --redirect-uri is required');
  const clients = new Map([[values['client-id'],
    { secret: values['client-secret'], redirects: [...values['redirect-uri']] }]]);
  for (const spec of values.client ?? []) {
    // ID:SECRET:REDIRECT, where the redirect URI itself holds colons.
    const m = spec.match(/^([^:]+):([^:]+):(.+)$/);
    if (!m) usage(`--client "${spec}" is not ID:SECRET:REDIRECT`);
    const [, id, secret, redirect] = m;
    const known = clients.get(id);
    if (known && known.secret !== secret) usage(`--client "${spec}" gives client "${id}" a second secret`);
    if (known) known.redirects.push(redirect);
    else clients.set(id, { secret, redirects: [redirect] });
  }
  for (const { redirects } of clients.values()) {
    for (const uri of redirects) {
      try { new URL(uri); } catch { usage(`redirect URI "${uri}" is not an absolute URL`); }
    }
  }
  return [...clients].map(([id, { secret, redirects }]) => ({
    client_id: id,
    client_secret: secret,
    redirect_uris: redirects,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }));
}

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    client: { type: 'string', multiple: true },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`--port "${values.port}" is not a port number`);
const clients = parseClients(values);

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(title)}</title>
<meta name="viewport" content="width=device-width"></head>
<body style="font-family: sans-serif; max-width: 28em; margin: 2em auto"><h1>${escape(title)}</h1>${body}</body></html>`;
}

function loginPage(uid, error) {
  return page('Sign in to Uptime Watch', `
${error ? `<p role="alert" id="login-error">${escape(error)}</p>` : ''}
<form method="post" action="/interaction/${escape(uid)}/login">
  <label for="login-username">Username</label>
  <input id="login-username" name="username" autocomplete="username" autofocus required>
  <button id="login-submit" type="submit">Sign in</button>
</form>
<p>Demo users: <code>alice</code> (account acme), <code>bob</code> (account globex). No password.</p>`);
}

function consentPage(uid, user, clientId, scopes) {
  return page('Allow access?', `
<p>Signed in as ${escape(user.name)} (${escape(user.org)}).</p>
<p>The application <strong>${escape(clientId)}</strong> asks for: ${scopes.map(escape).join(', ')}.</p>
<form method="post" action="/interaction/${escape(uid)}/confirm" style="display: inline">
  <button id="consent-allow" type="submit">Allow</button>
</form>
<form method="post" action="/interaction/${escape(uid)}/abort" style="display: inline">
  <button id="consent-deny" type="submit">Deny</button>
</form>`);
}

// Every authorization asks who is signing in, even with a live session: the demo and the tests
// link alice then bob in one browser, and "Use another account" must be able to change it.
const policy = interactionPolicy.base();
policy.get('login').checks.add(new interactionPolicy.Check('always_sign_in',
  'the demo provider asks for the user on every authorization',
  (ctx) => (ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT)));

const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const server = createServer();
await new Promise((ok, fail) => { server.once('error', fail); server.listen(port, '127.0.0.1', ok); });
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [{ ...signingKey, kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }] },
  cookies: {
    // Cookies are per host, not per port: names of our own keep clear of other loopback servers.
    names: { session: 'demo_idp_session', interaction: 'demo_idp_interaction', resume: 'demo_idp_resume' },
    keys: [randomBytes(32).toString('hex')],
  },
  claims: { openid: ['sub'], profile: ['name', 'org'] },
  // The claims of the requested scopes go in the ID token itself, which the server reads.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AuthorizationCode: 60, IdToken: 600, AccessToken: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  async findAccount(_ctx, id) {
    const user = USERS[id];
    if (!user) return undefined;
    return { accountId: id, claims: () => ({ sub: id, name: user.name, org: user.org }) };
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Sign-in error', `<p id="error">${escape(out.error)}: ${escape(out.error_description ?? '')}</p>`);
  },
});

async function readForm(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 10000) throw new Error('form too large');
  }
  return new URLSearchParams(body);
}

function send(res, status, html) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(html);
}

/** The login and consent pages; one interaction holds both steps. */
async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) { send(res, 400, page('Sign-in error', '<p>this sign-in page is out of date</p>')); return; }
  const accountId = details.result?.login?.accountId;
  if (req.method === 'GET' && !action) {
    if (accountId) {
      send(res, 200, consentPage(uid, USERS[accountId], details.params.client_id, String(details.params.scope).split(' ')));
    } else {
      send(res, 200, loginPage(uid));
    }
    return;
  }
  if (req.method !== 'POST') { send(res, 405, page('Sign-in error', '<p>method not allowed</p>')); return; }
  if (action === 'login') {
    const username = (await readForm(req)).get('username')?.trim().toLowerCase() ?? '';
    if (!Object.hasOwn(USERS, username)) {
      send(res, 200, loginPage(uid, `there is no user "${username}": use alice or bob`));
      return;
    }
    details.result = { login: { accountId: username } };
    await details.persist();
    res.writeHead(303, { location: `/interaction/${uid}` }).end();
  } else if (action === 'confirm' && accountId) {
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    grant.addOIDCScope([...new Set(['openid', ...String(details.params.scope).split(' ')])].join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } },
      { mergeWithLastSubmission: false });
  } else if (action === 'abort') {
    await provider.interactionFinished(req, res,
      { error: 'access_denied', error_description: 'the user denied access' }, { mergeWithLastSubmission: false });
  } else {
    send(res, 400, page('Sign-in error', '<p>sign in first</p>'));
  }
}

const callback = provider.callback();
server.on('request', async (req, res) => {
  const m = new URL(req.url, issuer).pathname.match(/^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/);
  if (!m) { callback(req, res); return; }
  try {
    await interaction(req, res, m[1], m[2]);
  } catch (e) {
    // An unknown or expired interaction (its cookie gone) ends here.
    if (!res.headersSent) send(res, 400, page('Sign-in error', `<p id="error">${escape(e.message)}</p>`));
  }
});

function stop() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// /dev/null or a terminal on stdin is no parent to watch; a pipe closing is.
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', stop).on('error', stop).resume();
}

process.stdout.write(`${JSON.stringify({ issuer })}\n`);
