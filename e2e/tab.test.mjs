// Today's Teams: the page as a configurable tab's configuration page, with a Workflows
// webhook pasted by the person, and the tab page itself, through the emulator's tab mode.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, dialogClosed, instances, countConnections,
  EVENTS_SECRET, sendAcceptedEvent,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** What the emulator's inbox of `url` received. */
async function inbox(server, url) {
  const path = url.split('/emulator/webhook/')[1].split('?')[0];
  const res = await fetch(`${server.url}/emulator/api/inbox/${path}`);
  return (await res.json()).messages;
}

async function until(what, check, timeout = 15000) {
  const end = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Creates a Workflows webhook in the emulator's channel (its URL in `shape`, today's by
 * default) and returns its URL. */
async function createWorkflow(page, shape = 'today') {
  const before = (await page.evaluate(() => window.emulator.workflows())).length;
  await page.selectOption('#workflow-shape', shape);
  await page.click('#add-workflow');
  const all = await page.evaluate(() => window.emulator.workflows());
  assert.equal(all.length, before + 1);
  return all.at(-1).url;
}

/** The tab page's frame (the tab shown in the channel). */
const tabFrame = (page) => page.frameLocator('#tab-frame');

test('a tab with a Workflows webhook: test card before saving, the tab page, settings, a new webhook URL, remove', async () => {
  const server = await startServer({ extraArgs: ['--events-secret', EVENTS_SECRET] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    const first = await createWorkflow(page);
    const second = await createWorkflow(page);
    await screenshot(page, 'tab-workflows');

    // Add a tab: the form asks for the webhook URL and checks it as it is typed.
    await page.click('#add-tab');
    const frame = configFrame(page);
    await frame.locator('#field-webhook_url').waitFor();
    await frame.locator('#field-subscription_name').fill('Release alerts');
    assert.match(first, /\/emulator\/webhook\/powerautomate\/automations\/direct\/cu\/\d{2}\/workflows\/[0-9a-f]{32}\/triggers\/manual\/paths\/invoke\?api-version=1&.*&sig=[\w-]+$/,
      "the emulator hands out today's shape");
    await frame.locator('#field-webhook_url').fill(first.split('/paths/invoke')[0]);
    await frame.getByText('This is only part of a Workflows URL').waitFor();
    await page.waitForSelector('#host-save:disabled');
    await frame.locator('#field-webhook_url').fill(first);
    await page.waitForSelector('#host-save:enabled');
    await frame.locator('#field-card_style-detailed').check();
    await frame.locator('#field-subscription_name').scrollIntoViewIfNeeded();
    await screenshot(page, 'tab-add');

    // The test card arrives before anything is stored.
    await frame.locator('#send-test-card').click();
    await frame.getByText('Workflows accepted the test card.').waitFor({ timeout: 15000 });
    const tested = await inbox(server, first);
    assert.equal(tested.length, 1);
    assert.equal(tested[0].body.attachments[0].content.type, 'AdaptiveCard', 'a Workflows webhook gets an Adaptive Card');
    assert.equal(countConnections(server.db), 0, 'nothing stored before Save');
    await screenshot(page, 'tab-test-card');

    await page.click('#host-save');
    await dialogClosed(page);
    const [tab] = await instances(page);
    assert.equal(tab.kind, 'tab');
    assert.equal(tab.name, 'Release alerts');
    const settings = await page.evaluate(() => window.emulator.lastSettings());
    assert.equal(settings.suggestedDisplayName, 'Release alerts');
    assert.match(settings.contentUrl, /\?entityId=[0-9a-f-]{36}#editKey=[0-9a-f]{64}$/);
    // The tab is the tab page (its own binary) beside the configuration page; removing it
    // loads the configuration page, with the same entityId and edit key.
    const configUrl = new URL(await page.evaluate(() => window.emulator.pageUrl()));
    const query = settings.contentUrl.slice(settings.contentUrl.indexOf('?'));
    assert.equal(settings.contentUrl, new URL('tab.html', configUrl).href + query);
    assert.equal(settings.removeUrl, configUrl.origin + configUrl.pathname + query);
    assert.equal(settings.webhookUrl, undefined);
    const key = settings.contentUrl.split('#editKey=')[1];
    assert.ok(!(await page.textContent('#host-log')).includes(key), 'the edit key is masked in the log');
    assert.equal(countConnections(server.db), 1);

    // The channel shows the tab: the connection, its choices and its deliveries.
    await page.waitForSelector('#tab-panel:not([hidden])');
    const shown = tabFrame(page);
    await shown.locator('#tab-connection').getByText('Release alerts').waitFor();
    assert.equal(await shown.locator('dd[data-field=card_style]').textContent(), 'Detailed');
    await sendAcceptedEvent(server, { type: 'build_failed', title: 'Build 7 failed', project: 'api' });
    await until('the card in the first webhook', async () => (await inbox(server, first)).length === 2);
    await shown.locator('#refresh-tab').click();
    await until('the delivery in the tab', async () => (await shown.locator('dd[data-count=delivered]').textContent()) === '1');
    await shown.locator('#delivery-counts').getByText('Accepted by Workflows').waitFor();
    await shown.locator('#workflows-note').getByText('run history in Power Automate', { exact: false }).waitFor();
    await screenshot(page, 'tab-page');

    // Settings re-opens the configuration pre-filled; the stored URL is never shown.
    await page.click('#tab-settings');
    const again = configFrame(page);
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument
      ?.querySelector('#field-subscription_name')?.value === 'Release alerts', null, { timeout: 10000 });
    assert.equal(await again.locator('#field-card_style-detailed').isChecked(), true);
    await again.locator('#webhook-replace').waitFor();
    assert.ok(!(await again.locator('body').textContent()).includes('/emulator/webhook/'));
    await screenshot(page, 'tab-settings');

    // Replace the webhook URL; the next event reaches the new one.
    await again.locator('#webhook-replace').click();
    await again.locator('#field-webhook_url').fill(second);
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    await sendAcceptedEvent(server, { type: 'build_failed', title: 'Build 8 failed', project: 'api' });
    await until('the card in the new webhook', async () => (await inbox(server, second)).length === 1);
    assert.equal((await inbox(server, first)).length, 2, 'the old webhook gets nothing more');
    assert.equal(countConnections(server.db), 1, 'the same connection');

    // Remove: Teams loads the removeUrl, the page deletes the connection.
    await page.click('#tab-remove');
    await page.waitForSelector('#host-remove:enabled');
    await configFrame(page).locator('h1').waitFor();
    await page.click('#host-remove');
    await dialogClosed(page);
    assert.equal((await instances(page)).length, 0);
    assert.equal(countConnections(server.db), 0);
    await page.waitForSelector('#tab-panel', { state: 'hidden' });
    // The first webhook's posts as Microsoft's Adaptive Cards renderer draws them, none refused.
    const firstFlow = (await page.evaluate(() => window.emulator.workflows()))[0];
    await page.click(`li[data-workflow-id="${firstFlow.id}"] [data-action=inbox]`);
    await page.locator('#inbox .ac-adaptiveCard').filter({ hasText: 'Build 7 failed' }).waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#inbox .card-problems').count(), 0, 'the renderer took every card');
    assert.deepEqual(errors, []);
  } finally {
    await screenshot(page, 'tab-flow').catch(() => {});
    await context.close();
    await server.stop();
  }
});

test('a tab saved before the pages were split (its contentUrl the configuration page) still shows the tab page', async () => {
  const server = await startServer();
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    const flow = await createWorkflow(page);
    await page.click('#add-tab');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').fill('Saved long ago');
    await frame.locator('#field-webhook_url').fill(flow);
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [tab] = await instances(page);
    // What a save before the split kept: the configuration page's URL with the query and key.
    const configUrl = new URL(await page.evaluate(() => window.emulator.pageUrl()));
    const query = tab.contentUrl.slice(tab.contentUrl.indexOf('?'));
    const old = configUrl.origin + configUrl.pathname + query;
    await page.evaluate((old) => {
      const list = JSON.parse(localStorage.getItem('teams-emulator.instances'));
      list[0].contentUrl = old;
      localStorage.setItem('teams-emulator.instances', JSON.stringify(list));
    }, old);
    await page.reload();
    assert.equal((await instances(page))[0].contentUrl, old);
    await page.click(`li[data-entity-id="${tab.entityId}"] [data-action=open]`);
    // The configuration page, in frame context content, hands the frame to the tab page.
    await tabFrame(page).locator('#tab-connection').getByText('Saved long ago').waitFor({ timeout: 15000 });
    const shownAt = await page.evaluate(() => document.querySelector('#tab-frame').contentWindow.location.href);
    assert.equal(shownAt, new URL('tab.html', configUrl).href + query, 'the tab page, with the entityId and the edit key');
    assert.equal(await tabFrame(page).locator('#field-subscription_name').count(), 0, 'no form in the tab');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a tab refuses a connector webhook URL and explains why', async () => {
  const server = await startServer();
  const { context, page } = await openEmulator(browser, server);
  try {
    await page.click('#add-tab');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').fill('Old habits');
    await frame.locator('#field-webhook_url').fill('https://contoso.webhook.office.com/webhookb2/g@t/IncomingWebhook/a/u');
    await frame.getByText('Microsoft retired').waitFor();
    await page.waitForSelector('#host-save:disabled');
    assert.equal(await frame.locator('#field-webhook_url').getAttribute('aria-invalid'), 'true');
  } finally {
    await context.close();
    await server.stop();
  }
});

test("a tab refuses the emulator's retired and sign-in Workflows URLs, takes every working shape, and delivers through today's", async () => {
  const server = await startServer({ extraArgs: ['--events-secret', EVENTS_SECRET] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    const retired = await createWorkflow(page, 'retired');
    const signIn = await createWorkflow(page, 'sign-in');
    const older = await createWorkflow(page, '2025');
    const slash = await createWorkflow(page, 'trailing-slash');
    const today = await createWorkflow(page);
    assert.match(retired, /\/emulator\/webhook\/workflows\/[0-9a-f]{32}\/triggers\/manual\/paths\/invoke\?api-version=2016-06-01&/);
    assert.ok(!signIn.includes('sig='), signIn);
    assert.ok(older.includes('/direct/workflows/'), older);
    assert.ok(slash.includes('/paths/invoke/?api-version=1'), slash);

    await page.click('#add-tab');
    const frame = configFrame(page);
    await frame.locator('#field-subscription_name').fill('Shapes');
    await frame.locator('#field-webhook_url').fill(retired);
    await frame.getByText('This Workflows address stopped working in November 2025').waitFor();
    await page.waitForSelector('#host-save:disabled');
    await frame.locator('#field-webhook_url').fill(signIn);
    await frame.getByText('Who can trigger the flow', { exact: false }).waitFor();
    await page.waitForSelector('#host-save:disabled');
    for (const url of [older, slash, today]) {
      await frame.locator('#field-webhook_url').fill(url);
      await page.waitForSelector('#host-save:enabled');
    }
    await page.click('#host-save');
    await dialogClosed(page);
    assert.equal(countConnections(server.db), 1);
    await sendAcceptedEvent(server, { type: 'build_failed', title: 'Build 9 failed', project: 'api' });
    await until("the card in today's webhook", async () => (await inbox(server, today)).length === 1);
    const [card] = await inbox(server, today);
    assert.equal(card.body.attachments[0].content.type, 'AdaptiveCard');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
