// The connector's flows through the emulator with the real teams-js in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, fillNewConnection, dialogClosed,
  instances, getConnection, countConnections,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function withEmulator(name, fn) {
  const server = await startServer();
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await fn({ server, page });
    assert.deepEqual(errors, [], 'no uncaught errors in the emulator page');
  } finally {
    await screenshot(page, name).catch(() => {});
    await context.close();
    await server.stop();
  }
}

test('a new configuration: save is enabled only when valid, stores the connection and closes the dialog', async () => {
  await withEmulator('new-configuration', async ({ server, page }) => {
    await page.click('#add-connector');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').waitFor();
    await assert.doesNotReject(page.waitForSelector('#host-save:disabled'));
    await frame.locator('#field-subscription_name').fill('ab');
    await page.waitForSelector('#host-save:disabled');
    await frame.locator('#field-subscription_name').fill('Nightly builds');
    await page.waitForSelector('#host-save:enabled');
    await screenshot(page, 'emulator-new-connection');
    await page.click('#host-save');
    await dialogClosed(page);
    const settings = await page.evaluate(() => window.emulator.lastSettings());
    assert.equal(settings.configName, 'Nightly builds');
    assert.match(settings.entityId, /^[0-9a-f-]{36}$/);
    assert.ok(settings.contentUrl.startsWith(`${server.url}/`), `contentUrl ${settings.contentUrl} is on our origin`);
    assert.ok(settings.contentUrl.includes(`entityId=${settings.entityId}`));
    const [inst] = await instances(page);
    assert.equal(inst.entityId, settings.entityId);
    const stored = await getConnection(server, inst.entityId, inst.webhookUrl);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.settings.subscription_name, 'Nightly builds');
    assert.equal(countConnections(server.db), 1);
  });
});

test('re-configuration from the stored contentUrl pre-fills every field and updates the same connection', async () => {
  await withEmulator('reconfigure', async ({ server, page }) => {
    const frame = await fillNewConnection(page, 'Deploys');
    await frame.locator('#field-events-deployment_finished').check();
    await frame.locator('#field-events-build_failed').uncheck();
    await frame.locator('#field-filter').fill('api');
    await frame.locator('#field-card_style-detailed').check();
    await frame.locator('#field-mention_channel').check();
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);

    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    const again = configFrame(page);
    await assert.doesNotReject(again.locator('#field-subscription_name').waitFor());
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument
      ?.querySelector('#field-subscription_name')?.value === 'Deploys', null, { timeout: 10000 });
    assert.equal(await again.locator('#field-filter').inputValue(), 'api');
    assert.equal(await again.locator('#field-events-deployment_finished').isChecked(), true);
    assert.equal(await again.locator('#field-events-build_failed').isChecked(), false);
    assert.equal(await again.locator('#field-events-incident_opened').isChecked(), true);
    assert.equal(await again.locator('#field-card_style-detailed').isChecked(), true);
    assert.equal(await again.locator('#field-mention_channel').isChecked(), true);
    await screenshot(page, 'emulator-reconfigure');

    await again.locator('#field-subscription_name').fill('Deploys (prod)');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const after = await instances(page);
    assert.equal(after.length, 1);
    assert.equal(after[0].entityId, inst.entityId);
    const stored = await getConnection(server, inst.entityId, inst.webhookUrl);
    assert.equal(stored.body.configName, 'Deploys (prod)');
    assert.equal(countConnections(server.db), 1, 'an edit never creates a second connection');
  });
});

test('remove deletes the connection on the server', async () => {
  await withEmulator('remove', async ({ server, page }) => {
    await fillNewConnection(page);
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=remove]`);
    await page.waitForSelector('#host-remove:enabled');
    await configFrame(page).locator('h1').waitFor();
    await page.click('#host-remove');
    await dialogClosed(page);
    assert.equal((await instances(page)).length, 0);
    assert.equal((await getConnection(server, inst.entityId, inst.webhookUrl)).status, 404);
    assert.equal(countConnections(server.db), 0);
  });
});

test('while the wasm downloads the page already talks to Teams, and a remove pressed then is carried out', async () => {
  await withEmulator('remove-before-wasm', async ({ server, page }) => {
    await fillNewConnection(page);
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);
    // The wasm held back until the test lets it through: js/handshake.js has the host alone.
    let release;
    const released = new Promise((resolve) => { release = resolve; });
    let held = 0;
    await page.route('**/*_bg.wasm', async (route) => { held += 1; await released; await route.continue(); });
    await page.evaluate(() => document.querySelector('#log-clear').click());
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=remove]`);
    await page.waitForSelector('#host-remove:enabled');
    const asked = async () => (await page.evaluate(() => window.emulator.log()))
      .filter((e) => e.dir === 'in' && e.frame === 'dialog').map((e) => e.func === 'registerHandler' ? `registerHandler ${e.args[0]}` : e.func);
    await page.waitForFunction(() => window.emulator.log().some((e) => e.dir === 'in' && e.func === 'registerHandler' && e.args[0] === 'remove'));
    const before = await asked();
    for (const func of ['initialize', 'getContext', 'settings.getSettings', 'registerHandler remove']) {
      assert.ok(before.includes(func), `${func} before the wasm: ${before}`);
    }
    assert.ok(!before.includes('registerHandler save'), `${before}`);
    assert.equal(held, 1, 'the wasm is still held');
    await page.click('#host-remove');
    await page.waitForTimeout(500);
    assert.equal((await getConnection(server, inst.entityId, inst.webhookUrl)).status, 200, 'nothing removed before the wasm');
    assert.ok(!(await asked()).some((f) => f.startsWith('settings.remove')), 'nobody answered for the page');
    release();
    await dialogClosed(page);
    assert.equal((await instances(page)).length, 0);
    assert.equal((await getConnection(server, inst.entityId, inst.webhookUrl)).status, 404);
    assert.equal(countConnections(server.db), 0);
    assert.ok((await asked()).includes('settings.remove.success'));
  });
});

test('a server answering 500 at save fails the save with a readable reason and stores nothing', async () => {
  await withEmulator('save-500', async ({ server, page }) => {
    await page.route('**/api/connections/**', (route) => route.request().method() === 'PUT'
      ? route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"internal","message":"internal error"}' })
      : route.continue());
    await fillNewConnection(page);
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await page.waitForSelector('#host-error:not([hidden])');
    const reason = await page.textContent('#host-error');
    assert.match(reason, /Could not save: the server had a problem/);
    assert.equal(await page.isHidden('#host-dialog'), false, 'the dialog stays open');
    assert.equal(countConnections(server.db), 0);
    assert.equal((await instances(page)).length, 0);
  });
});

test('a server that is down at save fails the save with a readable reason', async () => {
  await withEmulator('save-server-down', async ({ server, page }) => {
    await fillNewConnection(page);
    await page.waitForSelector('#host-save:enabled');
    // Stop only the API: the emulator and the page are already loaded.
    await page.route('**/api/connections/**', (route) => route.abort('connectionrefused'));
    await page.click('#host-save');
    await page.waitForSelector('#host-error:not([hidden])');
    assert.match(await page.textContent('#host-error'), /could not be reached/);
    assert.equal(countConnections(server.db), 0);
  });
});

test('the page opened directly in a tab says it belongs in Teams within a few seconds', async () => {
  const server = await startServer();
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const started = Date.now();
    await page.goto(`${server.url}/`);
    await page.getByText('Open this page from Microsoft Teams').waitFor({ timeout: 8000 });
    assert.ok(Date.now() - started < 8000);
    await screenshot(page, 'outside-teams');
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the theme switch restyles the page without a reload', async () => {
  await withEmulator('theme-switch', async ({ page }) => {
    await page.click('#add-connector');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').waitFor();
    const background = () => frame.locator('body').evaluate((b) => getComputedStyle(b).backgroundColor);
    const light = await background();
    await frame.locator('#field-subscription_name').fill('kept across the switch');
    await page.selectOption('#host-theme', 'dark');
    await page.waitForFunction(async () => {
      const doc = document.querySelector('#host-frame').contentDocument;
      return doc?.documentElement.dataset.theme === 'dark';
    });
    const dark = await background();
    assert.notEqual(dark, light);
    assert.equal(await frame.locator('#field-subscription_name').inputValue(), 'kept across the switch', 'no reload');
    await screenshot(page, 'emulator-dark');
    await page.selectOption('#host-theme', 'contrast');
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument?.documentElement.dataset.theme === 'contrast');
    assert.notEqual(await background(), dark);
    await screenshot(page, 'emulator-contrast');
  });
});

test('a rapid double save produces one connection', async () => {
  await withEmulator('double-save', async ({ server, page }) => {
    await fillNewConnection(page);
    await page.waitForSelector('#host-save:enabled');
    await page.evaluate(() => { const b = document.querySelector('#host-save'); b.click(); b.click(); });
    await dialogClosed(page);
    assert.equal(countConnections(server.db), 1);
    assert.equal((await instances(page)).length, 1);
  });
});
