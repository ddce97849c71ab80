// Teams single sign-on through the emulator, whose identity provider signs the tokens the
// server checks with its production code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, fillNewConnection, dialogClosed, instances,
  countConnections,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

async function useToken(page, variant) {
  await page.evaluate(() => { document.querySelector('details.context').open = true; });
  await page.locator('#context-form select[name=tokenVariant]').selectOption(variant);
}

test('with sso, save, edit and remove work with a valid token, and another tenant cannot edit', async () => {
  const server = await startServer({ extraArgs: ['--dev-sso'] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await fillNewConnection(page, 'Signed in');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);
    assert.equal(countConnections(server.db), 1);
    const log = await page.evaluate(() => window.emulator.log());
    assert.ok(log.some((m) => m.func === 'authentication.getAuthToken'), 'the page asked teams for a token');
    const logText = await page.textContent('#host-log');
    assert.ok(!/eyJ[\w-]{20,}\.[\w-]+\./.test(logText), 'tokens are masked in the log');

    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    const frame = configFrame(page);
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument
      ?.querySelector('#field-subscription_name')?.value === 'Signed in', null, { timeout: 10000 });
    await frame.locator('#field-subscription_name').fill('Signed in again');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);

    await useToken(page, 'other-tenant');
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await configFrame(page).getByText('belongs to another organisation').waitFor({ timeout: 10000 });
    await screenshot(page, 'sso-other-tenant');
    await page.click('#host-cancel');

    await useToken(page, 'valid');
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=remove]`);
    await page.waitForSelector('#host-remove:enabled');
    await configFrame(page).locator('h1').waitFor();
    await page.click('#host-remove');
    await dialogClosed(page);
    assert.equal(countConnections(server.db), 0);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('with sso, an expired token fails the save with a readable reason', async () => {
  const server = await startServer({ extraArgs: ['--dev-sso'] });
  const { context, page } = await openEmulator(browser, server);
  try {
    await useToken(page, 'expired');
    await fillNewConnection(page, 'Too late');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await page.waitForSelector('#host-error:not([hidden])');
    assert.match(await page.textContent('#host-error'), /signing in with Teams failed: the sign-in token has expired/);
    assert.equal(countConnections(server.db), 0);
  } finally {
    await context.close();
    await server.stop();
  }
});
