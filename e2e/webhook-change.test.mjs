// Connector mode: Teams hands the page a changed webhook URL when the connector is edited —
// the legacy form migrated to webhookb2, a V2 segment added, a new webhook of the same team —
// and each time the edit pre-fills, saves, and the next card reaches the new URL. Another
// team's URL is refused in words and changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, fillNewConnection, dialogClosed, instances,
  countConnections,
  EVENTS_SECRET, sendAcceptedEvent,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** A build_failed event of project api titled `title`, accepted. */
function sendTitled(server, title) {
  return sendAcceptedEvent(server, { type: 'build_failed', title, project: 'api' });
}

/** The path a card titled `title` was posted to (the URL form), once it arrived. */
async function postedTo(server, url, title) {
  const path = url.split('/emulator/webhook/')[1];
  for (let i = 0; i < 75; i++) {
    const { messages } = await (await fetch(`${server.url}/emulator/api/inbox/${path}`)).json();
    const hit = messages.find((m) => JSON.stringify(m.body).includes(title));
    if (hit) return hit.path;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`no card "${title}" reached ${path}`);
}

async function setSwitch(page, name, value) {
  await page.evaluate(() => { document.querySelector('details.context').open = true; });
  await page.locator(`#context-form select[name=${name}]`).selectOption(value);
}

/** Configure the one connector again, wait for the pre-fill, change its name, save. */
async function editAndSave(page, from, to) {
  const [inst] = await instances(page);
  await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
  await page.waitForFunction((name) => document.querySelector('#host-frame').contentDocument
    ?.querySelector('#field-subscription_name')?.value === name, from, { timeout: 10000 });
  await configFrame(page).locator('#field-subscription_name').fill(to);
  await page.waitForSelector('#host-save:enabled');
  await page.click('#host-save');
  await dialogClosed(page);
  return (await instances(page))[0];
}

test('after each kind of webhook URL change an edit pre-fills, saves, and the next card reaches the new URL', async () => {
  const server = await startServer({ extraArgs: ['--events-secret', EVENTS_SECRET] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await setSwitch(page, 'webhookForm', 'legacy');
    await fillNewConnection(page, 'Migrating');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    let [inst] = await instances(page);
    assert.match(inst.webhookUrl, /\/emulator\/webhook\/webhook\//, 'stored in the legacy form');
    const ids = inst.webhookUrl.split('/emulator/webhook/webhook/')[1];

    // Teams migrated the URL to webhookb2 with the same ids.
    await setSwitch(page, 'webhookForm', 'webhookb2');
    inst = await editAndSave(page, 'Migrating', 'Migrated');
    assert.ok(inst.webhookUrl.endsWith(`/webhookb2/${ids}`), inst.webhookUrl);
    await sendTitled(server, 'After the b2 migration');
    assert.equal(await postedTo(server, inst.webhookUrl, 'After the b2 migration'), `webhookb2/${ids}`);

    // Newer URLs add a V2 segment.
    await setSwitch(page, 'webhookForm', 'webhookb2-v2');
    inst = await editAndSave(page, 'Migrated', 'With V2');
    assert.match(inst.webhookUrl, /\/V2[\w-]+$/);
    await sendTitled(server, 'After V2');
    assert.match(await postedTo(server, inst.webhookUrl, 'After V2'), new RegExp(`^webhookb2/${ids}/V2`));

    // A new webhook of the same team (the new Teams client on edit): the edit key proves it.
    await setSwitch(page, 'webhookOnEdit', 'new-same-team');
    const before = inst.webhookUrl;
    inst = await editAndSave(page, 'With V2', 'New webhook');
    assert.notEqual(inst.webhookUrl, before);
    assert.equal(inst.webhookUrl.split('@')[0].split('/').pop(), ids.split('@')[0], 'the same team');
    await sendTitled(server, 'On the new webhook');
    await postedTo(server, inst.webhookUrl, 'On the new webhook');
    assert.equal(countConnections(server.db), 1, 'always the same connection');
    await screenshot(page, 'connector-webhook-changes');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test("another team's webhook URL is refused with a readable message and changes nothing", async () => {
  const server = await startServer({ extraArgs: ['--events-secret', EVENTS_SECRET] });
  const { context, page } = await openEmulator(browser, server);
  try {
    await fillNewConnection(page, 'Ours');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);

    await setSwitch(page, 'webhookOnEdit', 'other-team');
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    const frame = configFrame(page);
    await frame.getByText("this webhook URL posts to another team's channel").waitFor({ timeout: 10000 });
    await frame.getByText('Create the webhook in a channel of this team').waitFor();
    assert.equal(await page.isDisabled('#host-save'), true, 'nothing to save');
    await screenshot(page, 'connector-other-team');
    await page.click('#host-cancel');

    await setSwitch(page, 'webhookOnEdit', 'stored');
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await page.waitForFunction(() => document.querySelector('#host-frame').contentDocument
      ?.querySelector('#field-subscription_name')?.value === 'Ours', null, { timeout: 10000 });
    await page.click('#host-cancel');
    await sendTitled(server, 'Still ours');
    await postedTo(server, inst.webhookUrl, 'Still ours');
    assert.equal((await instances(page))[0].webhookUrl, inst.webhookUrl, 'unchanged');
  } finally {
    await context.close();
    await server.stop();
  }
});
