// The operators' console (dist/admin/) on the server's internal listener, in Chromium with
// the real server and the emulator's inbox as the channel: sign in with an admin token, find
// a connection by its team, see its cards die while the webhook fails, replay one from the
// connection's page and the rest by filter (after the dry run's count), see them delivered;
// disable and enable it, read the audit log; axe in the three themes. The public listener
// serves none of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import {
  startServer, launchBrowser, openEmulator, fillNewConnection, dialogClosed, instances, sendAcceptedEvent,
  screenshot, EVENTS_SECRET,
} from './harness.mjs';

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const TOKEN = 'e2e-admin-secret-0123456789';
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** A port nobody listens on now, for --metrics-addr. */
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

/** GET an admin API path on the internal listener, as JSON. */
async function admin(internal, path) {
  const res = await fetch(`${internal}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
  return res.json();
}

async function until(what, check, timeout = 20000) {
  const end = Date.now() + timeout;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs axe on the console; fails listing every violation. */
async function axe(page, label) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const text = result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(text, [], `${label}: axe violations`);
}

/** Sets the emulator inbox of `inst` to answer in `mode` (ok, error, …). */
async function inboxMode(page, inst, mode) {
  await page.click(`li[data-entity-id="${inst.entityId}"] button[data-action=inbox]`);
  await page.selectOption('#inbox-mode', mode);
  await page.waitForTimeout(300);
}

test('an operator finds a connection by team, sees its dead deliveries and replays them once the webhook is fixed', async () => {
  const port = await freePort();
  const internal = `http://127.0.0.1:${port}`;
  const server = await startServer({
    extraArgs: ['--events-secret', EVENTS_SECRET, '--metrics-addr', `127.0.0.1:${port}`,
      '--admin-token', `ops:${TOKEN}`, '--test-retry-divisor', '100000'],
  });
  const { context, page } = await openEmulator(browser, server);
  const console_ = await context.newPage();
  const errors = [];
  console_.on('pageerror', (e) => errors.push(String(e)));
  try {
    // The public listener has no console.
    for (const path of ['/admin/', '/admin/index.html']) {
      const res = await fetch(`${server.url}${path}`);
      assert.equal(res.status, 404, `public ${path}`);
    }

    await fillNewConnection(page, 'Ops watched');
    await page.waitForSelector('#host-save:enabled');
    await page.click('#host-save');
    await dialogClosed(page);
    const [inst] = await instances(page);
    const group = /\/webhookb?2?\/([^/@]+)@/.exec(inst.webhookUrl)[1];

    // The channel's webhook fails (500) until every retry is used up: both cards die.
    await inboxMode(page, inst, 'error');
    await sendAcceptedEvent(server, { type: 'build_failed', title: 'First lost card' });
    await sendAcceptedEvent(server, { type: 'build_failed', title: 'Second lost card' });
    const q = `connection=${encodeURIComponent(inst.entityId)}&state=dead`;
    await until('two dead deliveries', async () => (await admin(internal, `/admin/deliveries?${q}`)).deliveries.length === 2, 60000);

    // A wrong token: the page says what the server said.
    await console_.goto(`${internal}/admin/`);
    await console_.locator('#token').fill('not-the-token-0123456789');
    await console_.getByRole('button', { name: 'Sign in' }).click();
    await console_.getByRole('alert').filter({ hasText: 'admin_token_refused' }).waitFor();
    // Signed in by keyboard alone: the label names the field, Enter submits.
    await console_.getByLabel('Admin token').fill('');
    await console_.getByLabel('Admin token').focus();
    await console_.keyboard.type(TOKEN);
    await console_.keyboard.press('Enter');
    await console_.getByRole('heading', { name: 'Deliveries per minute, last 24 hours' }).waitFor();
    assert.equal(await console_.evaluate(() => sessionStorage.getItem('connector-admin-token')), TOKEN);
    assert.equal(await console_.evaluate(() => localStorage.length), 0);
    // The chart's text alternative counts what happened (the dead attempts at least).
    await until('the chart to count the dead', async () => {
      await console_.getByRole('button', { name: 'Refresh the chart' }).click();
      const summary = await console_.locator('#chart-summary').textContent().catch(() => '');
      return /[1-9]\d* dead/.test(summary);
    });
    assert.match(await console_.locator('#queue').textContent(), /due now/);

    // Found by its team.
    await console_.getByLabel('Team (group id)').fill(group);
    await console_.getByRole('button', { name: 'Search' }).click();
    await console_.getByText('1 connections on this page.').waitFor();
    await console_.getByRole('link', { name: 'Ops watched' }).click();
    await console_.getByRole('heading', { name: 'Ops watched' }).waitFor();
    const rows = console_.locator('table[aria-label="Deliveries"] tbody tr:not([hidden])');
    await until('two dead rows', async () => (await rows.filter({ hasText: 'dead' }).count()) === 2);
    assert.match(await rows.first().textContent(), /500/);
    // Newest first: the first card's delivery is the older one.
    const [second, first] = (await admin(internal, `/admin/deliveries?${q}`)).deliveries.map((d) => d.deliveryId);
    assert.ok(first < second);
    // Each attempt with the webhook's answer code.
    await console_.getByRole('button', { name: `Attempts of ${first}` }).click();
    const attempts = console_.getByRole('list', { name: `Attempts of delivery ${first}` });
    await attempts.waitFor();
    assert.match(await attempts.textContent(), /HTTP 500/);
    assert.match(await attempts.textContent(), /dead/);
    await screenshot(console_, 'admin-dead');

    // Fixed: one replayed from here and delivered. (The inbox shows the posts it refused
    // too: one more post of each card comes in.)
    await inboxMode(page, inst, 'ok');
    const inbox = `${server.url}/emulator/api/inbox/${inst.webhookUrl.split('/emulator/webhook/')[1]}`;
    const posts = async (title) => (await (await fetch(inbox)).json()).messages
      .filter((m) => JSON.stringify(m.body).includes(title)).length;
    const [firstPosts, secondPosts] = [await posts('First lost card'), await posts('Second lost card')];
    await console_.getByRole('button', { name: `Replay ${first}` }).click();
    await console_.getByText(`Delivery ${first} is due again.`).waitFor();
    await until('the replayed card delivered', async () => {
      await console_.getByRole('button', { name: 'Refresh deliveries' }).click();
      await rows.first().waitFor();
      return (await rows.filter({ hasText: 'delivered' }).count()) === 1;
    });
    await until('the first card posted again', async () => (await posts('First lost card')) === firstPosts + 1);

    // The rest by filter: the dry run's count first, then the replay.
    await console_.getByRole('link', { name: 'Dead letters' }).click();
    await console_.getByLabel('Connection (entity id)').fill(inst.entityId);
    await console_.getByRole('button', { name: 'Count and replay matching…' }).click();
    await console_.getByText('Dry run: 1 dead deliveries match this filter').waitFor();
    assert.equal((await admin(internal, `/admin/deliveries?${q}`)).deliveries.length, 1, 'a dry run replays nothing');
    await console_.getByRole('button', { name: 'Replay 1 deliveries' }).click();
    await console_.getByText('Replayed 1 of 1 matching dead deliveries').waitFor();
    await until('the second card posted again', async () => (await posts('Second lost card')) === secondPosts + 1);
    await until('both delivered', async () => {
      const all = await admin(internal, `/admin/deliveries?connection=${encodeURIComponent(inst.entityId)}`);
      return all.deliveries.every((d) => d.status === 'delivered');
    });

    // Disabled with a reason and enabled again, both in the audit log under the token's id.
    await console_.goto(`${internal}/admin/#/connection/${encodeURIComponent(inst.entityId)}`);
    await console_.getByLabel(/Reason for disabling/).fill('customer asked for a pause');
    await console_.getByRole('button', { name: 'Disable this connection' }).click();
    await console_.getByText('Ops watched is now disabled.').waitFor();
    await console_.getByText(/disabled by an operator: customer asked for a pause/).waitFor();
    await console_.getByRole('button', { name: 'Enable this connection' }).click();
    await console_.getByText('Ops watched is now enabled.').waitFor();
    await console_.getByRole('link', { name: 'Audit log' }).click();
    const audit = console_.getByRole('table', { name: 'Audit log entries' });
    await audit.waitFor();
    const auditText = await audit.textContent();
    for (const action of ['disable', 'enable', 'replay']) assert.match(auditText, new RegExp(action));
    assert.match(auditText, /ops/);
    await screenshot(console_, 'admin-audit');

    // axe on the connection's page and the dead letters, in each theme.
    for (const theme of ['default', 'dark', 'contrast']) {
      const views = [
        [`#/connection/${encodeURIComponent(inst.entityId)}`, 'table[aria-label="Deliveries"]'],
        ['#/dead', 'text=No deliveries.'],
        ['#/connections', 'table[aria-label="Connections found"]'],
        ['#/audit', 'table[aria-label="Audit log entries"]'],
      ];
      for (const [view, loaded] of views) {
        await console_.goto(`${internal}/admin/?theme=${theme}${view}`);
        await console_.locator('#chart-summary').waitFor();
        await console_.locator(loaded).waitFor();
        assert.equal(await console_.evaluate(() => document.documentElement.dataset.theme), theme);
        await axe(console_, `${view}, ${theme}`);
      }
      await screenshot(console_, `admin-${theme}`);
    }
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
