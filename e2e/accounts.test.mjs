// Sign-in to the sending service and addressed events, end to end: the second connector
// (connectors/uptime-watch.toml, which has `[account]`) built by `cargo xtask test` into
// ACCOUNTS_SERVER_BIN and ACCOUNTS_DIST_DIR, a real OpenID provider on loopback as "the
// service" (e2e/oidc/provider.mjs), the emulator and its sign-in popup in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  startServer, launchBrowser, configFrame, screenshot, dialogClosed, instances, countConnections,
  EVENTS_SECRET, sendEvent,
} from './harness.mjs';
import { startProvider } from './oidc/start.mjs';
import { startHttpsFront } from './https-front.mjs';

const root = resolve(import.meta.dirname, '..');
const BIN = process.env.ACCOUNTS_SERVER_BIN ?? join(root, 'build/accounts-server');
const DIST = process.env.ACCOUNTS_DIST_DIR ?? join(root, 'build/accounts-dist');
const CLIENT_ID = 'uptime-watch-teams';
const CLIENT_SECRET = 'e2e-account-client-secret';
/** The first event type of uptime-watch, which a new connection takes by default. */
const TYPE = 'site_down';
/** What callback.js and start.js keep in the popup's sessionStorage. */
const KEPT = 'connector-account-sign-in';

let browser;
before(async () => {
  for (const [what, path] of [['ACCOUNTS_SERVER_BIN', BIN], ['ACCOUNTS_DIST_DIR', DIST]]) {
    assert.ok(existsSync(path), `${what} ${path} does not exist: cargo xtask test builds it (the uptime-watch connector)`);
  }
  browser = await launchBrowser();
});
after(async () => { await browser?.close(); });

/**
 * The provider, an https front (teams-js opens the sign-in only on https), then the server
 * pointed at both; the emulator (on the server's http origin) hosts the page through the front.
 * `fn` gets them all.
 */
async function withAccounts(name, fn) {
  // The page's config.json as a deployment beside the emulator's origin would have it.
  const overrides = {};
  const front = await startHttpsFront({ overrides });
  const provider = await startProvider(['--port', '0', '--client-id', CLIENT_ID, '--client-secret', CLIENT_SECRET,
    '--redirect-uri', `${front.url}/auth/callback.html`]);
  let server;
  let context;
  let page;
  const errors = [];
  try {
    server = await startServer({
      bin: BIN, dist: DIST,
      extraArgs: ['--events-secret', EVENTS_SECRET, '--account-issuer', provider.issuer, '--account-client-id', CLIENT_ID,
        '--account-client-secret', CLIENT_SECRET, '--cors-origin', front.url],
    });
    front.setTarget(server.url);
    overrides['/config.json'] = JSON.stringify({ apiBaseUrl: '', validMessageOrigins: [server.url] });
    context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true });
    page = await context.newPage();
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${server.url}/emulator/?page=${encodeURIComponent(`${front.url}/`)}`);
    await fn({ server, provider, page, context });
    assert.deepEqual(errors, [], 'no uncaught errors in the emulator page');
  } catch (e) {
    e.message += `\n--- server log ---\n${server?.log().slice(-3000) ?? ''}\n--- provider log ---\n${provider.log().slice(-2000)}`;
    throw e;
  } finally {
    if (page) await screenshot(page, name).catch(() => {});
    await context?.close();
    await server?.stop();
    await provider.stop();
    await front.stop();
  }
}

async function setContext(page, values) {
  await page.evaluate(() => { document.querySelector('details.context').open = true; });
  for (const [key, value] of Object.entries(values)) {
    const input = page.locator(`#context-form [name=${key}]`);
    if (await input.evaluate((e) => e.tagName === 'SELECT')) await input.selectOption(value);
    else { await input.fill(value); await input.dispatchEvent('change'); }
  }
}

/** Clicks "Sign in to Uptime Watch" in the frame and resolves with the popup window. */
async function openSignIn(page) {
  const frame = configFrame(page);
  const button = frame.locator('#account-sign-in');
  await button.waitFor({ timeout: 15000 });
  const [popup] = await Promise.all([page.context().waitForEvent('page', { timeout: 15000 }), button.click()]);
  return popup;
}

/** In the popup: who signs in, then Allow or Deny. */
async function signInAs(popup, user, decision = 'allow') {
  await popup.locator('#login-username').fill(user, { timeout: 15000 });
  await popup.click('#login-submit');
  await popup.click(decision === 'allow' ? '#consent-allow' : '#consent-deny', { timeout: 15000 });
}

/** Adds a connector in a channel, signed in as `user`; resolves with the emulator's instance. */
async function linkChannel(page, { channel, user, shown, label, hostClientType }) {
  await setContext(page, { channelName: channel, channelId: `19:${channel.toLowerCase()}@thread.tacv2`, hostClientType });
  const before = (await instances(page)).map((i) => i.entityId);
  await page.click('#add-connector');
  const frame = configFrame(page);
  await frame.locator('#field-libelle').fill(label);
  await page.waitForSelector('#host-save:disabled');
  const popup = await openSignIn(page);
  await signInAs(popup, user);
  await frame.locator('#account-linked').filter({ hasText: `Connected as ${shown}` }).waitFor({ timeout: 15000 });
  await frame.locator('#account-sign-in').filter({ hasText: 'Use another account' }).waitFor();
  await page.waitForSelector('#host-save:enabled');
  await page.click('#host-save');
  await dialogClosed(page);
  const inst = (await instances(page)).find((i) => !before.includes(i.entityId));
  assert.ok(inst, `a new instance in ${channel}`);
  return inst;
}

/** The posts a connection's emulated webhook received, as text. */
async function inbox(server, inst) {
  const marker = '/emulator/webhook/';
  const path = inst.webhookUrl.slice(inst.webhookUrl.indexOf(marker) + marker.length).split(/[?#]/)[0];
  const res = await fetch(`${server.url}/emulator/api/inbox/${path}`);
  return (await res.json()).messages.map((m) => JSON.stringify(m));
}

async function waitForPost(server, inst, title) {
  for (let i = 0; i < 100; i++) {
    if ((await inbox(server, inst)).some((m) => m.includes(title))) return;
    await new Promise((ok) => setTimeout(ok, 100));
  }
  assert.fail(`"${title}" did not reach ${inst.webhookUrl} in 10 s`);
}

test('two accounts link two channels, and each addressed event reaches only its account\'s channel', async () => {
  await withAccounts('accounts-two-channels', async ({ server, page }) => {
    // Both ways Teams opens the popup: the host window (desktop), the frame's SDK (web).
    const acme = await linkChannel(page, { channel: 'Acme', user: 'alice', shown: 'Alice Example (acme)', label: 'Acme sites', hostClientType: 'desktop' });
    const globex = await linkChannel(page, { channel: 'Globex', user: 'bob', shown: 'Bob Example (globex)', label: 'Globex sites', hostClientType: 'web' });
    assert.equal(countConnections(server.db), 2);

    const forAcme = await sendEvent(server, { type: TYPE, title: 'shop.acme.example is down', account: 'acme' });
    assert.equal(forAcme.status, 202, JSON.stringify(forAcme.body));
    assert.equal(forAcme.body.deliveries, 1);
    const forGlobex = await sendEvent(server, { type: TYPE, title: 'www.globex.example is down', account: 'globex' });
    assert.equal(forGlobex.status, 202, JSON.stringify(forGlobex.body));
    assert.equal(forGlobex.body.deliveries, 1);
    const forNobody = await sendEvent(server, { type: TYPE, title: 'initech is down', account: 'initech' });
    assert.equal(forNobody.status, 202, JSON.stringify(forNobody.body));
    assert.equal(forNobody.body.deliveries, 0);

    await waitForPost(server, acme, 'shop.acme.example is down');
    await waitForPost(server, globex, 'www.globex.example is down');
    const [acmeInbox, globexInbox] = [await inbox(server, acme), await inbox(server, globex)];
    assert.equal(acmeInbox.length, 1, `acme's channel got only its event: ${acmeInbox}`);
    assert.equal(globexInbox.length, 1, `globex's channel got only its event: ${globexInbox}`);
    assert.ok(!acmeInbox.some((m) => m.includes('globex')));
    assert.ok(!globexInbox.some((m) => m.includes('acme')));

    // As a person sees it: the card in Acme's inbox.
    await page.click(`li[data-entity-id="${acme.entityId}"] button[data-action=inbox]`);
    await page.locator('#inbox .card').filter({ hasText: 'shop.acme.example is down' }).waitFor({ timeout: 10000 });

    const unaddressed = await sendEvent(server, { type: TYPE, title: 'whose is this?' });
    assert.equal(unaddressed.status, 400);
    assert.equal(unaddressed.body.error, 'validation_failed');
    assert.ok(unaddressed.body.fields?.some((f) => f.field === 'account') || /`?account`?/.test(unaddressed.body.message),
      `the refusal names the account field: ${JSON.stringify(unaddressed.body)}`);

    // Re-opening keeps the link: no new sign-in needed.
    await page.click(`li[data-entity-id="${acme.entityId}"] button[data-action=configure]`);
    const again = configFrame(page);
    await again.locator('#account-linked').filter({ hasText: 'Connected as Alice Example (acme)' }).waitFor({ timeout: 15000 });
    // The frame is on the front's origin: read it through the locator, not contentDocument.
    const label = again.locator('#field-libelle');
    for (let i = 0; i < 100 && await label.inputValue() !== 'Acme sites'; i++) await page.waitForTimeout(100);
    assert.equal(await label.inputValue(), 'Acme sites');
    await page.waitForSelector('#host-save:enabled');
    await screenshot(page, 'accounts-reopen');
    await page.click('#host-cancel');
  });
});

/** Opens "Add connector", fails the sign-in with `fail`, and checks the message and that nothing is stored. */
async function failedSignIn(page, server, fail, message) {
  await page.click('#add-connector');
  const frame = configFrame(page);
  await frame.locator('#field-libelle').fill('Never saved');
  const popup = await openSignIn(page);
  await fail(popup);
  const error = frame.locator('#account-error');
  await error.waitFor({ timeout: 15000 });
  assert.match(await error.textContent(), message);
  assert.equal(await frame.locator('#account-linked').count(), 0, 'no account is shown as connected');
  assert.equal(await page.locator('#host-save').isDisabled(), true, 'Save stays off without an account');
  assert.equal(countConnections(server.db), 0);
  await page.click('#host-cancel');
  await dialogClosed(page);
}

test('a closed popup, a refused consent and a wrong state each say why and store nothing', async () => {
  await withAccounts('accounts-failures', async ({ server, page }) => {
    for (const hostClientType of ['desktop', 'web']) {
      await setContext(page, { hostClientType });
      await failedSignIn(page, server, async (popup) => {
        await popup.locator('#login-username').waitFor({ timeout: 15000 });
        await popup.close();
      }, /sign-in window was closed before the sign-in finished/);

      await failedSignIn(page, server, (popup) => signInAs(popup, 'alice', 'deny'),
        /Access was not allowed at the sign-in/);

      // The answer reaches a popup whose kept state is another sign-in's.
      await failedSignIn(page, server, async (popup) => {
        await popup.addInitScript((key) => {
          if (!location.pathname.endsWith('/auth/callback.html')) return;
          const kept = JSON.parse(sessionStorage.getItem(key) ?? '{}');
          sessionStorage.setItem(key, JSON.stringify({ ...kept, state: 'someone-elses-state' }));
        }, KEPT);
        await signInAs(popup, 'bob');
      }, /does not belong to this sign-in/);
    }
    assert.equal((await instances(page)).length, 0);
  });
});
