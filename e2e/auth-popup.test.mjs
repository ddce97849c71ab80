// The emulator's authentication.authenticate against the real teams-js (the bundle the page
// ships, dist/auth/teams-js.js), for each host client type, with no identity provider: a
// page of our own (on another origin, as `?page=`) asks for the sign-in window, and the
// window's own page answers with notifySuccess or notifyFailure, or is closed. The pages are
// served over https (a throw-away self-signed certificate): teams-js 2.58 refuses an
// authenticate URL that is not https ("Url should be a valid https url").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { startServer, launchBrowser, configFrame, tempDir } from './harness.mjs';

/** `dir`'s files (and `overrides` by name) over https on 127.0.0.1, on a random port. */
async function startHttpsServer(dir, overrides) {
  const keys = tempDir('auth-popup-');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-keyout', join(keys, 'key.pem'), '-out', join(keys, 'cert.pem')], { stdio: 'ignore' });
  const server = createServer({ key: readFileSync(join(keys, 'key.pem')), cert: readFileSync(join(keys, 'cert.pem')) },
    async (req, res) => {
      const file = new URL(req.url, 'https://x').pathname.slice(1);
      try {
        const body = Object.hasOwn(overrides, file) ? overrides[file] : await readFile(join(dir, file.replace(/\.\./g, '')));
        res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(body);
      } catch { res.writeHead(404).end('not found'); }
    });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `https://127.0.0.1:${server.address().port}`, stop: () => new Promise((ok) => server.close(ok)) };
}

/** The emulator in a fresh context that takes the test certificate. */
async function openEmulator(browser, server, query) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/emulator/${query}`);
  return { context, page, errors };
}

const distDir = process.env.DIST_DIR ?? join(import.meta.dirname, '..', 'dist');

let browser, server, pages;
before(async () => {
  browser = await launchBrowser();
  server = await startServer();
  const init = `microsoftTeams.app.initialize([${JSON.stringify(server.url)}])`;
  // The framed page: a button that calls authenticate and shows what it resolved to.
  const framed = `<!doctype html><meta charset="utf-8"><script src="teams-js.js"></script>
<button id="go">Sign in</button><p id="out"></p>
<script>
${init}.then(() => microsoftTeams.app.notifySuccess());
document.getElementById('go').onclick = () => {
  const outcome = new URLSearchParams(location.search).get('outcome') || 'success';
  microsoftTeams.authentication.authenticate({ url: '/popup.html?outcome=' + outcome, width: 500, height: 400 })
    .then((r) => { document.getElementById('out').textContent = 'ok:' + r; })
    .catch((e) => { document.getElementById('out').textContent = 'failed:' + e.message; });
};
</script>`;
  // The sign-in window's page: initialize, then answer as the outcome says ("stay": no answer).
  const popup = `<!doctype html><meta charset="utf-8"><script src="teams-js.js"></script><p id="ctx"></p>
<script>
const outcome = new URLSearchParams(location.search).get('outcome');
${init}.then(() => microsoftTeams.app.getContext()).then((c) => {
  document.getElementById('ctx').textContent = c.page.frameContext + ' ' + c.app.host.clientType;
  if (outcome === 'success') microsoftTeams.authentication.notifySuccess('code-for-' + c.app.host.clientType);
  if (outcome === 'failure') microsoftTeams.authentication.notifyFailure('consent_refused: no thanks');
});
</script>`;
  pages = await startHttpsServer(join(distDir, 'auth'), { 'framed.html': framed, 'popup.html': popup });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await pages?.stop();
});

/** The emulator with our page as the configuration page, `clientType` chosen in its panel. */
async function open(clientType, outcome) {
  const pageUrl = `${pages.url}/framed.html?outcome=${outcome}`;
  const emu = await openEmulator(browser, server, `?page=${encodeURIComponent(pageUrl)}`);
  // The emulator's "Host client type" switch, in its context panel.
  await emu.page.evaluate(() => { document.querySelector('details.context').open = true; });
  await emu.page.locator('#context-form select[name=hostClientType]').selectOption(clientType);
  await emu.page.click('#add-connector');
  await configFrame(emu.page).locator('#go').waitFor();
  return emu;
}

/** Clicks the framed button; returns the sign-in window and the frame's result text. */
async function signIn(emu) {
  const popupOpened = emu.page.waitForEvent('popup');
  await configFrame(emu.page).locator('#go').click();
  const popup = await popupOpened;
  return popup;
}

async function result(emu) {
  const out = configFrame(emu.page).locator('#out');
  await out.filter({ hasText: /./ }).waitFor({ timeout: 10000 });
  return out.textContent();
}

for (const clientType of ['web', 'desktop']) {
  test(`${clientType}: the window's notifySuccess resolves the frame's authenticate`, async () => {
    const emu = await open(clientType, 'success');
    try {
      const popup = await signIn(emu);
      assert.equal(await result(emu), `ok:code-for-${clientType}`);
      await popup.waitForEvent('close', { timeout: 5000 }).catch(() => {});
      assert.ok(popup.isClosed(), 'the host closes the sign-in window');
      const log = await emu.page.evaluate(() => window.emulator.log());
      const fromWindow = log.filter((e) => e.frame === 'sign-in' && e.dir === 'in').map((e) => e.func);
      assert.deepEqual(fromWindow.filter((f) => f !== 'getContext'), ['initialize', 'authentication.authenticate.success']);
      const init = log.find((e) => e.frame === 'sign-in' && e.kind === 'response' && e.func === 'initialize');
      assert.deepEqual(init.args.slice(0, 2), ['authentication', clientType]);
      const asked = log.find((e) => e.frame === 'dialog' && e.func === 'authentication.authenticate' && e.dir === 'in');
      assert.equal(asked.args[0], `${pages.url}/popup.html?outcome=success`);
      assert.deepEqual(asked.args.slice(1, 3), [500, 400]);
      assert.deepEqual(emu.errors, []);
    } finally {
      await emu.context.close();
    }
  });

  test(`${clientType}: the window's notifyFailure rejects with its reason`, async () => {
    const emu = await open(clientType, 'failure');
    try {
      await signIn(emu);
      assert.equal(await result(emu), 'failed:consent_refused: no thanks');
    } finally {
      await emu.context.close();
    }
  });

  test(`${clientType}: closing the window rejects with CancelledByUser`, async () => {
    const emu = await open(clientType, 'stay');
    try {
      const popup = await signIn(emu);
      await popup.locator('#ctx').filter({ hasText: `authentication ${clientType}` }).waitFor();
      await popup.close();
      assert.equal(await result(emu), 'failed:CancelledByUser');
    } finally {
      await emu.context.close();
    }
  });
}

test('a sign-in window on another origin than the page is refused', async () => {
  const emu = await open('web', 'success');
  try {
    const failed = await configFrame(emu.page).locator('#go').evaluate(() =>
      microsoftTeams.authentication.authenticate({ url: 'https://elsewhere.example/popup.html' })
        .then(() => 'resolved', (e) => e.message));
    assert.match(failed, /must open on the page's origin/);
  } finally {
    await emu.context.close();
  }
});
