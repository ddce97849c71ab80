// The page deployed as static files on another origin, under a sub-path, with the API on
// our server: a new configuration through the emulator, and CORS for exactly that origin.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  startServer, startStaticServer, launchBrowser, configFrame, screenshot, dialogClosed, instances,
  countConnections, getConnection,
} from './harness.mjs';

const dist = process.env.SUBPATH_DIST_DIR ?? resolve(import.meta.dirname, '../build/e2e-dist');
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('a page served from a static host under a sub-path configures a connection through the API on another origin', async () => {
  assert.ok(existsSync(join(dist, 'index.html')), `${dist} holds a page built with --public-url /connector/`);
  const statics = await startStaticServer(dist, '/connector/');
  const server = await startServer({ extraArgs: ['--cors-origin', statics.url] });
  writeFileSync(join(dist, 'config.json'), JSON.stringify({ apiBaseUrl: server.url, validMessageOrigins: [server.url] }));
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  try {
    const pageUrl = `${statics.url}/connector/`;
    await page.goto(`${server.url}/emulator/?page=${encodeURIComponent(pageUrl)}`);
    await page.click('#add-connector');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').fill('From the CDN');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const settings = await page.evaluate(() => window.emulator.lastSettings());
    assert.ok(settings.contentUrl.startsWith(`${pageUrl}?entityId=`), settings.contentUrl);
    const [inst] = await instances(page);
    assert.equal((await getConnection(server, inst.entityId, inst.webhookUrl)).body.configName, 'From the CDN');
    assert.equal(countConnections(server.db), 1);
    await screenshot(page, 'deploy-subpath');
  } finally {
    await context.close();
    await server.stop();
    await statics.stop();
  }
});

test('cors refuses a page origin that is not configured', async () => {
  const server = await startServer({ extraArgs: ['--cors-origin', 'http://127.0.0.1:9'] });
  try {
    const preflight = (origin) => fetch(`${server.url}/api/connections/x`, { method: 'OPTIONS', headers: {
      origin, 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' } });
    assert.equal((await preflight('http://127.0.0.1:9')).headers.get('access-control-allow-origin'), 'http://127.0.0.1:9');
    assert.equal((await preflight('http://127.0.0.1:10')).headers.get('access-control-allow-origin'), null);
  } finally {
    await server.stop();
  }
});

test('a page that never answers save gets the host time-out, and the dialog stays open', async () => {
  // An API that accepts connections and never answers, not even the CORS preflight: the page's
  // save waits for it, so the page never answers Teams' save event.
  const { createServer } = await import('node:http');
  const silent = createServer(() => {});
  await new Promise((ok) => silent.listen(0, '127.0.0.1', ok));
  const silentUrl = `http://127.0.0.1:${silent.address().port}`;
  const server = await startServer();
  const statics = await startStaticServer(dist, '/connector/', {
    'config.json': JSON.stringify({ apiBaseUrl: silentUrl, validMessageOrigins: [server.url] }),
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  try {
    const pageUrl = `${statics.url}/connector/`;
    await page.goto(`${server.url}/emulator/?answerTimeout=2&page=${encodeURIComponent(pageUrl)}`);
    await page.click('#add-connector');
    await configFrame(page).locator('#field-subscription_name').fill('Never answered');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    assert.equal(await page.textContent('#host-status'), 'Saving…');
    await page.waitForSelector('#host-error:not([hidden])', { timeout: 10000 });
    assert.match(await page.textContent('#host-error'), /did not answer the save within 2 seconds/);
    assert.equal(await page.textContent('#host-status'), 'No answer');
    assert.equal(await page.evaluate(() => document.querySelector('#host-dialog').hidden), false);
    assert.deepEqual(await instances(page), []);
    await screenshot(page, 'save-time-out');
  } finally {
    await context.close();
    await statics.stop();
    await server.stop();
    silent.closeAllConnections();
    await new Promise((ok) => silent.close(ok));
  }
});
