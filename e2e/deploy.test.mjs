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

test('with single sign-on, a page on a CDN origin saves, edits and removes through the API on another origin', async () => {
  assert.ok(existsSync(join(dist, 'index.html')), `${dist} holds a page built with --public-url /connector/`);
  // The API's address is known only once it runs, and it must know the page's origin first.
  const config = {};
  const statics = await startStaticServer(dist, '/connector/', config);
  const server = await startServer({ extraArgs: ['--dev-sso', '--cors-origin', statics.url] });
  config['config.json'] = JSON.stringify({ apiBaseUrl: server.url, validMessageOrigins: [server.url], sso: true });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const apiCalls = [];
  page.on('request', (req) => {
    if (req.url().startsWith(`${server.url}/api/connections/`)) {
      apiCalls.push({ method: req.method(), signedIn: /^Bearer ey/.test(req.headers().authorization ?? '') });
    }
  });
  try {
    const pageUrl = `${statics.url}/connector/`;
    await page.goto(`${server.url}/emulator/?page=${encodeURIComponent(pageUrl)}`);
    await page.click('#add-connector');
    await configFrame(page).locator('#field-subscription_name').fill('Signed in from the CDN');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);
    assert.equal(countConnections(server.db), 1);

    // The page is on another origin than the emulator: its document is read through the frame.
    const prefilled = async (want) => {
      const field = configFrame(page).locator('#field-subscription_name');
      for (let waited = 0; (await field.inputValue().catch(() => '')) !== want; waited += 100) {
        assert.ok(waited < 10000, `the form was not pre-filled with '${want}'`);
        await new Promise((ok) => setTimeout(ok, 100));
      }
    };
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await prefilled('Signed in from the CDN');
    await configFrame(page).locator('#field-subscription_name').fill('Edited from the CDN');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await prefilled('Edited from the CDN');
    await page.click('#host-cancel');

    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=remove]`);
    await page.waitForSelector('#host-remove:enabled');
    await configFrame(page).locator('h1').waitFor();
    await page.click('#host-remove');
    await dialogClosed(page);
    assert.equal(countConnections(server.db), 0);
    for (const method of ['PUT', 'GET', 'DELETE']) {
      assert.ok(apiCalls.some((c) => c.method === method && c.signedIn), `a signed-in ${method} crossed origins: ${JSON.stringify(apiCalls)}`);
    }
    assert.ok(apiCalls.every((c) => c.signedIn), JSON.stringify(apiCalls));
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
    const allowed = await preflight('http://127.0.0.1:9');
    assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://127.0.0.1:9');
    assert.match(allowed.headers.get('access-control-allow-headers'), /authorization/);
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
