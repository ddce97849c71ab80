// The tab path looks and reads like the form: axe-core finds no violation in the tab's
// configuration (webhook field empty, wrong, stored) and in the tab page, in every theme; the
// tab page follows Teams' language.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, dialogClosed,
} from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Runs axe in the frame with id `frameId`; fails listing every violation. */
async function axe(page, frameId, label) {
  const handle = await page.$(`#${frameId}`);
  const frame = await handle.contentFrame();
  await frame.evaluate(axeSource);
  const result = await frame.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const text = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(text, [], `${label}: axe violations`);
}

async function everyTheme(page, frameId, label) {
  for (const t of ['default', 'dark', 'contrast']) {
    await page.selectOption('#host-theme', t);
    await page.waitForFunction(([id, theme]) => document.querySelector(`#${id}`).contentDocument
      ?.documentElement.dataset.theme === theme, [frameId, t]);
    await axe(page, frameId, `${label}, ${t}`);
  }
  await page.selectOption('#host-theme', 'default');
}

test('axe finds no violation in the tab configuration and the tab page in any theme', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  try {
    await page.click('#add-workflow');
    const url = (await page.evaluate(() => window.emulator.workflows()))[0].url;
    await page.click('#add-tab');
    const frame = configFrame(page);
    await frame.locator('#field-webhook_url').waitFor();
    await everyTheme(page, 'host-frame', 'new tab');
    await frame.locator('#field-webhook_url').fill('http://not-a-workflow.example');
    await frame.getByText('must start with https://').waitFor();
    await everyTheme(page, 'host-frame', 'wrong webhook url');
    await frame.locator('#field-webhook_url').fill(url);
    await frame.locator('#field-subscription_name').fill('Accessible tab');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    await page.frameLocator('#tab-frame').locator('#delivery-counts').waitFor();
    await everyTheme(page, 'tab-frame', 'tab page');
    await page.selectOption('#host-theme', 'dark');
    await screenshot(page, 'tab-page-dark');
    await page.selectOption('#host-theme', 'default');
    await page.click('#tab-settings');
    await configFrame(page).locator('#webhook-replace').waitFor();
    await everyTheme(page, 'host-frame', 'stored webhook');
    // The Replace button is reachable by keyboard and reveals a labelled field.
    await configFrame(page).locator('#webhook-replace').focus();
    await page.keyboard.press('Enter');
    await configFrame(page).getByLabel('Workflows webhook URL').waitFor();
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the tab page speaks German when Teams does', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  try {
    await page.evaluate(() => { document.querySelector('details.context').open = true; });
    await page.fill('#context-form input[name=locale]', 'de-DE');
    await page.locator('#context-form input[name=locale]').dispatchEvent('change');
    await page.click('#add-workflow');
    const url = (await page.evaluate(() => window.emulator.workflows()))[0].url;
    await page.click('#add-tab');
    const frame = configFrame(page);
    await frame.getByText('Workflows-Webhook-URL').first().waitFor();
    await frame.locator('#field-webhook_url').fill(url);
    await frame.locator('#field-subscription_name').fill('Deutsch');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const tab = page.frameLocator('#tab-frame');
    await tab.getByText('Zustellungen').waitFor();
    await tab.getByText('Testkarte senden').waitFor();
    assert.equal(await tab.locator('html').getAttribute('lang'), 'de');
  } finally {
    await context.close();
    await server.stop();
  }
});
