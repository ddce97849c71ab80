// Events in, cards out, seen the way a person sees them: in the emulator's channel inbox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, launchBrowser, openEmulator, configFrame, screenshot, fillNewConnection, dialogClosed, instances,
  EVENTS_SECRET, sendAcceptedEvent,
} from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test('an event reaches the configured channel as a card, and a test card can be sent from the page', async () => {
  const server = await startServer({ extraArgs: ['--events-secret', EVENTS_SECRET] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    const frame = await fillNewConnection(page, 'Release alerts');
    await frame.locator('#field-card_style-detailed').check();
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);

    const accepted = await sendAcceptedEvent(server, { type: 'build_failed', title: 'Build 42 failed on main', text: 'Step test failed',
      link: 'https://ci.example.com/42', facts: [{ name: 'Branch', value: 'main' }], project: 'api' });
    assert.equal(accepted.deliveries, 1);
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=inbox]`);
    await page.locator('#inbox .card').filter({ hasText: 'Build 42 failed on main' }).waitFor({ timeout: 10000 });
    assert.match(await page.locator('#inbox .card').first().textContent(), /Branch\s*main/);
    await screenshot(page, 'delivery-inbox');

    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    const again = configFrame(page);
    await again.locator('#send-test-card').click();
    await again.getByText('The test card was posted to the channel.').waitFor({ timeout: 15000 });
    await page.click('#host-cancel');
    await page.locator('#inbox .card').filter({ hasText: 'Test card from Build Notifications' }).waitFor({ timeout: 10000 });
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('a removed webhook disables the connection, which the page shows when editing', async () => {
  const server = await startServer({ extraArgs: ['--events-secret', EVENTS_SECRET] });
  const { context, page } = await openEmulator(browser, server);
  try {
    await fillNewConnection(page, 'Soon gone');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=inbox]`);
    await page.selectOption('#inbox-mode', 'gone');
    await page.waitForTimeout(300);
    await sendAcceptedEvent(server, { type: 'build_failed', title: 'Nobody will see this' });
    await page.waitForFunction(async ([url, id, hook]) => {
      const r = await fetch(`${url}/api/connections/${id}/deliveries`, { headers: { 'x-teams-webhook-url': hook } });
      return (await r.json()).disabled !== null;
    }, [server.url, inst.entityId, inst.webhookUrl], { timeout: 10000 });
    await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=configure]`);
    await configFrame(page).getByText("the channel's webhook is gone").waitFor({ timeout: 10000 });
    await screenshot(page, 'delivery-disabled');
  } finally {
    await context.close();
    await server.stop();
  }
});
