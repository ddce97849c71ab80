// The page under the production Content-Security-Policy (no unsafe-inline, no unsafe-eval):
// no violation is reported, opened directly and through a whole save in the emulator.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, configFrame, dialogClosed, countConnections } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** A context that records every CSP violation in every frame. */
async function watchedContext() {
  const context = await browser.newContext();
  const violations = [];
  await context.exposeBinding('reportCspViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCspViolation({ directive: e.violatedDirective, blocked: e.blockedURI, url: document.URL });
    });
  });
  return { context, violations };
}

test('the page runs under the production csp with no violation', async () => {
  const server = await startServer({ dev: false });
  const { context, violations } = await watchedContext();
  const page = await context.newPage();
  const consoleCsp = [];
  page.on('console', (m) => { if (/Content.Security.Policy/i.test(m.text())) consoleCsp.push(m.text()); });
  try {
    // Both pages, each its own wasm and loader: the configuration page and the tab page.
    for (const path of ['/', '/tab.html']) {
      const res = await page.goto(`${server.url}${path}`);
      assert.equal(res.status(), 200, path);
      const csp = res.headers()['content-security-policy'];
      assert.match(csp, /script-src 'self' 'wasm-unsafe-eval' 'sha256-/);
      assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/);
      assert.match(csp, /frame-ancestors teams\.microsoft\.com/);
      // The wasm ran: it rendered the outside-Teams explanation.
      await page.getByText('Open this page from Microsoft Teams').waitFor({ timeout: 8000 });
      assert.deepEqual(violations, [], path);
      assert.deepEqual(consoleCsp, [], path);
    }
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a whole save in the emulator reports no csp violation', async () => {
  const server = await startServer();
  const { context, violations } = await watchedContext();
  const page = await context.newPage();
  try {
    await page.goto(`${server.url}/emulator/`);
    await page.click('#add-connector');
    await configFrame(page).locator('#field-subscription_name').fill('Under CSP');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    assert.equal(countConnections(server.db), 1);
    assert.deepEqual(violations, []);
    // And a tab: its configuration, then the tab page the save points at.
    await page.click('#add-tab');
    await configFrame(page).locator('#field-subscription_name').fill('Tab under CSP');
    const flow = await page.evaluate(async () => {
      document.querySelector('#add-workflow').click();
      return window.emulator.workflows().at(-1).url;
    });
    await configFrame(page).locator('#field-webhook_url').fill(flow);
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    await page.frameLocator('#tab-frame').locator('#tab-connection').getByText('Tab under CSP').waitFor({ timeout: 15000 });
    assert.equal(countConnections(server.db), 2);
    assert.deepEqual(violations, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
