// Accessibility of the page inside the emulator: axe-core in every theme and in the new,
// edit, error and saving states; keyboard-only configuration; German; a 320 px webview.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, fillNewConnection, dialogClosed, instances,
} from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Runs axe in the configuration page's frame; fails listing every violation. */
async function axe(page, label) {
  const frame = page.frames().find((f) => f.parentFrame() && f.url().startsWith('http'));
  await frame.evaluate(axeSource);
  const result = await frame.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const text = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(text, [], `${label}: axe violations`);
}

async function theme(page, name) {
  await page.selectOption('#host-theme', name);
  await page.waitForFunction((t) => document.querySelector('#host-frame').contentDocument?.documentElement.dataset.theme === t, name);
}

test('axe finds no violation in any theme in the new, edit, error and saving states', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  try {
    const frame = await fillNewConnection(page, 'Accessible');
    for (const t of ['default', 'dark', 'contrast']) {
      await theme(page, t);
      await axe(page, `new form, ${t}`);
    }
    // Error state: a touched invalid field.
    await frame.locator('#field-subscription_name').fill('ab');
    await frame.locator('#field-filter').focus();
    await frame.getByText('Use at least 3 characters.').waitFor();
    for (const t of ['default', 'dark', 'contrast']) {
      await theme(page, t);
      await axe(page, `invalid field, ${t}`);
    }
    // Saving state: hold the PUT so the spinner and disabled inputs stay up.
    await frame.locator('#field-subscription_name').fill('Accessible');
    let release;
    const held = new Promise((r) => { release = r; });
    await page.route('**/api/connections/**', async (route) => { await held; await route.continue(); });
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await frame.getByText('Saving…').waitFor();
    // The spinner keeps its 16 px circle beside the text (a flex rule once stretched it
    // across the bar, drawn as a long rotating line).
    const spinner = await frame.locator('.spinner').boundingBox();
    assert.ok(spinner.width <= 24 && spinner.height <= 24, `spinner ${spinner.width}x${spinner.height}`);
    for (const t of ['default', 'dark', 'contrast']) {
      await theme(page, t);
      await axe(page, `saving, ${t}`);
    }
    release();
    await dialogClosed(page);
    await page.unroute('**/api/connections/**');
    // Edit state, and a failed save's message bar.
    const [inst] = await instances(page);
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument
      ?.querySelector('#field-subscription_name')?.value === 'Accessible');
    await page.route('**/api/connections/**', (route) => route.request().method() === 'PUT'
      ? route.fulfill({ status: 500, contentType: 'application/json', body: '{"error":"internal","message":"x"}' })
      : route.continue());
    await page.click('#host-save');
    await configFrame(page).getByText('Could not save').waitFor();
    for (const t of ['default', 'dark', 'contrast']) {
      await theme(page, t);
      await axe(page, `edit with save error, ${t}`);
      await screenshot(page, `page-${t}`);
    }
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a keyboard alone configures the form up to an enabled save', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  try {
    await page.click('#add-connector');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').waitFor();
    await frame.locator('#field-subscription_name').focus();
    await page.keyboard.type('Keyboard only');
    await page.keyboard.press('Tab'); // first event type checkbox
    await page.keyboard.press('Tab');
    await page.keyboard.press('Space'); // build_succeeded on
    assert.equal(await frame.locator('#field-events-build_succeeded').isChecked(), true);
    const focused = await frame.locator(':focus').getAttribute('id');
    assert.equal(focused, 'field-events-build_succeeded', 'tab order follows the form');
    const outline = await frame.locator(':focus').evaluate((e) => getComputedStyle(e).outlineStyle);
    assert.notEqual(outline, 'none', 'focus is visible');
    await page.waitForSelector('#host-save:enabled');
  } finally {
    await context.close();
    await server.stop();
  }
});

test('the German locale shows German labels and messages', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  try {
    await page.evaluate(() => { document.querySelector('details.context').open = true; });
    await page.fill('#context-form input[name=locale]', 'de-DE');
    await page.locator('#context-form input[name=locale]').dispatchEvent('change');
    await page.click('#add-connector');
    const frame = configFrame(page);
    await frame.getByText('Name des Abonnements').waitFor();
    await frame.locator('#field-subscription_name').fill('ab');
    await frame.locator('#field-filter').focus();
    await frame.getByText('Mindestens 3 Zeichen.').waitFor();
    assert.equal(await frame.locator('html').getAttribute('lang'), 'de');
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a 320 px wide webview has no horizontal scrolling', async () => {
  const server = await startServer();
  const context = await browser.newContext({ viewport: { width: 320, height: 640 } });
  const page = await context.newPage();
  try {
    // The page as a mobile webview shows it: unframed at 320 px, outside-Teams and form alike.
    await page.goto(`${server.url}/`);
    await page.getByText('Open this page from Microsoft Teams').waitFor();
    const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(wide, false);
    const emulator = await openEmulator(browser, server);
    await emulator.page.setViewportSize({ width: 360, height: 800 });
    await emulator.page.click('#add-connector');
    const frame = configFrame(emulator.page);
    await frame.locator('#field-subscription_name').waitFor();
    await emulator.page.evaluate(() => { document.querySelector('#host-frame').style.width = '320px'; });
    const frameWide = await frame.locator('html').evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    assert.equal(frameWide, false, 'the form fits 320 px');
    await emulator.context.close();
  } finally {
    await context.close();
    await server.stop();
  }
});

test('nothing jumps while the page starts, loads and pre-fills', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  // Every frame records its layout shifts (Chromium's Layout Instability API) from the start.
  await context.addInitScript(() => {
    window.__shifts = [];
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (!e.hadRecentInput) window.__shifts.push(e.value);
    }).observe({ type: 'layout-shift', buffered: true });
  });
  const shifts = () => page.frames().find((f) => f.parentFrame() && f.url().startsWith('http'))
    .evaluate(() => window.__shifts);
  try {
    await fillNewConnection(page, 'No jumps');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    // Edit: hold the stored settings back so the skeleton shows first, then pre-fill.
    await page.route('**/api/connections/**', async (route) => {
      await new Promise((r) => setTimeout(r, 600));
      await route.continue();
    });
    const [inst] = await instances(page);
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument
      ?.querySelector('#field-subscription_name')?.value === 'No jumps');
    await new Promise((r) => setTimeout(r, 300));
    const total = async () => (await shifts()).reduce((a, b) => a + b, 0);
    // 0.1 is "good" for a whole page's Cumulative Layout Shift; the page should stay far below.
    const loading = await total();
    assert.ok(loading < 0.02, `layout shift while loading: ${loading.toFixed(4)}`);
    // Saving: the spinner bar appears where the form would not move.
    await page.click('#host-save');
    await configFrame(page).getByText('Saving…').waitFor();
    await new Promise((r) => setTimeout(r, 300));
    const saving = (await total()) - loading;
    assert.ok(saving < 0.02, `layout shift when saving starts: ${saving.toFixed(4)}`);
    await dialogClosed(page);
  } finally {
    await context.close();
    await server.stop();
  }
});
