// Smoke test of the plain-JavaScript reference page of `cargo xtask bench page`: served from
// another origin and hosted by the emulator, it saves a connection through the real API, so
// the benchmark compares our page with a page that does the same job.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  startServer, startStaticServer, launchBrowser, configFrame, dialogClosed, instances, getConnection,
} from './harness.mjs';

const dir = process.env.REFERENCE_DIR ?? resolve(import.meta.dirname, '../build/reference');
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('the reference page configures a connection in the emulator like ours', async () => {
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const teamsJs = readdirSync(dir).find((n) => /^teams-js-.*\.js$/.test(n));
  assert.ok(teamsJs && html.includes(`src="${teamsJs}"`), 'it loads the same teams-js bundle as our page');
  // Filled in once the API's address is known (the static server reads it per request).
  const overrides = {};
  const served = await startStaticServer(dir, '/reference/', overrides);
  const server = await startServer({ extraArgs: ['--cors-origin', served.url] });
  overrides['index.html'] = html.replace('%API_BASE_URL%', server.url).replace('%VALID_ORIGINS%', server.url);
  const context = await browser.newContext();
  const tab = await context.newPage();
  const errors = [];
  tab.on('pageerror', (e) => errors.push(String(e)));
  try {
    await tab.goto(`${server.url}/emulator/?page=${encodeURIComponent(`${served.url}/reference/`)}`);
    await tab.click('#add-connector');
    const frame = configFrame(tab);
    await frame.locator('#field-subscription_name').waitFor();
    await tab.waitForFunction(() => window.emulator.log().some((m) => m.func === 'settings.setValidityState'));
    assert.equal(await tab.isDisabled('#host-save'), true, 'an empty name is not valid');
    await frame.locator('#field-subscription_name').fill('ab');
    assert.match(await frame.locator('#field-subscription_name-error').textContent(), /at least 3/);
    await frame.locator('#field-subscription_name').fill('Reference');
    await frame.locator('#field-events-build_succeeded').check();
    await tab.waitForSelector('#host-save:enabled');
    await tab.click('#host-save');
    await dialogClosed(tab);
    const [inst] = await instances(tab);
    assert.equal(inst.configName, 'Reference');
    assert.ok(inst.contentUrl.startsWith(`${served.url}/reference/?entityId=`), inst.contentUrl);
    const stored = await getConnection(server, inst.entityId, inst.webhookUrl);
    assert.equal(stored.status, 200);
    assert.deepEqual(stored.body.settings.events, ['build_failed', 'build_succeeded', 'incident_opened']);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
    await served.stop();
  }
});
