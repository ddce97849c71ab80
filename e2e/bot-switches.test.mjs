// The emulator's switches for the Bot Framework it plays (`--dev-bot`), each driven through
// its UI: the token endpoint hands out a token already expired (the connector service
// answers 401 to it, the server fetches a new one and the card arrives), the connector
// service answers 429 with Retry-After to the next posts (the card arrives after them), 403
// BotNotInConversationRoster (the connection is disabled, nothing shown), and "Delete the
// channel" disables the channel's connection. What the server posts is shown in the
// channel view as the app's bot's post, the Adaptive Card rendered by Microsoft's renderer.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, openEmulator, screenshot, EVENTS_SECRET, sendAcceptedEvent } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** The channel the emulator's context is in: what a tab there would save on the bot path. */
async function channelOf(page) {
  return page.evaluate(() => {
    const field = (name) => document.querySelector(`#context-form [name="${name}"]`).value;
    return { tenantId: field('tid'), teamId: field('teamId'), channelId: field('channelId') };
  });
}

/** Saves connection `id` on the bot path for the emulator's channel (as the page's bot path does); its edit key. */
async function connectOnTheBot(server, id, bot) {
  const res = await fetch(`${server.url}/api/connections/${id}`, {
    method: 'PUT', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ bot, settings: { subscription_name: 'Nightly builds', events: ['build_failed'], filter: '',
      card_style: 'compact', mention_channel: false } }),
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  assert.equal(body.webhookKind, 'bot');
  return body.editKey;
}

async function deliveries(server, id, key) {
  const res = await fetch(`${server.url}/api/connections/${id}/deliveries`, { headers: { 'x-connector-edit-key': key } });
  assert.equal(res.status, 200);
  return res.json();
}

async function until(what, f, timeout = 15000) {
  const started = Date.now();
  for (;;) {
    if (await f()) return;
    if (Date.now() - started > timeout) throw new Error(`timed out waiting for ${what}`);
    await new Promise((ok) => setTimeout(ok, 200));
  }
}

const idp = (page) => page.evaluate(() => fetch('/emulator/api/idp').then((r) => r.json()));

/** Waits until the channel view shows `n` posts of the app's bot. */
async function botPosts(page, n) {
  await page.waitForFunction((want) => document.querySelectorAll('#inbox .card.bot-post').length === want, n, { timeout: 15000 });
}

let eventNumber = 0;
function sendBuildFailed(server) {
  eventNumber += 1;
  return sendAcceptedEvent(server, { id: `bot-switch-${eventNumber}`, type: 'build_failed', title: `Build ${eventNumber} failed`,
    text: 'Step test failed', link: 'https://ci.example.com/1', project: 'web' });
}

async function addTheApp(page) {
  await page.waitForSelector('#bot-section:not([hidden])');
  await page.click('#bot-add');
  await page.waitForFunction(() => /Added to .*: the server answered 200/.test(document.querySelector('#bot-status').textContent),
    null, { timeout: 10000 });
}

test('each switch of the emulated Bot Framework, through the UI, with its outcome in the channel view', async () => {
  // Retries 50 times sooner (5 s, 30 s → 100 ms, 600 ms): the 429s' Retry-After (1 s) sets the pace.
  const server = await startServer({ extraArgs: ['--dev-bot', '--events-secret', EVENTS_SECRET, '--test-retry-divisor', '50'] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await addTheApp(page);
    const key = await connectOnTheBot(server, 'bot-switches', await channelOf(page));
    await page.click('#bot-posts');
    await page.waitForFunction(() => /^0 posts by the app's bot/.test(document.querySelector('#inbox-status').textContent));
    assert.equal(await page.isHidden('#inbox-mode-label'), true, 'no webhook switch for the bot');

    // The token endpoint: the next token is already expired; the service answers 401 to it.
    const before = await idp(page);
    await page.selectOption('#bot-tokens', '1');
    await until('the switch', async () => (await idp(page)).botExpiredTokens === 1);
    await sendBuildFailed(server);
    await botPosts(page, 1);
    const first = page.locator('#inbox .card.bot-post').first();
    assert.match(await first.locator('.meta').textContent(), /posted by .+ \(the app's bot\)/);
    // Rendered by the Adaptive Cards renderer, not shown raw.
    assert.equal(await first.locator('.ac-adaptiveCard').count(), 1);
    assert.match(await first.textContent(), /Build 1 failed/);
    const after = await idp(page);
    assert.equal(after.tokenRequests - before.tokenRequests, 2, 'the expired token, then a new one');
    assert.equal(after.botExpiredTokens, 0);
    await page.waitForFunction(() => document.querySelector('#bot-tokens').value === '0');
    await screenshot(page, 'bot-post-after-expired-token');

    // 429 with Retry-After for the next two posts: the card arrives after them.
    await page.selectOption('#bot-answers', 'throttled:2');
    await until('the switch', () => page.evaluate(() => fetch(`/emulator/api/bot/conversations/${encodeURIComponent(
      document.querySelector('#context-form [name="channelId"]').value)}`).then((r) => r.json()).then((c) => c.remaining === 2)));
    await sendBuildFailed(server);
    await botPosts(page, 2);
    assert.match(await page.locator('#inbox .card.bot-post').first().textContent(), /Build 2 failed/, 'newest first');
    await page.waitForFunction(() => /2 posts by the app's bot · 2 refused · connector service answers: 201/.test(
      document.querySelector('#inbox-status').textContent));
    assert.equal(await page.inputValue('#bot-answers'), 'ok');
    await until('delivered', async () => (await deliveries(server, 'bot-switches', key)).delivered === 2);

    // 403 BotNotInConversationRoster: the connection is disabled, nothing more is shown.
    await page.selectOption('#bot-answers', 'not-in-roster');
    await page.waitForFunction(() => /answers: 403 BotNotInConversationRoster/.test(document.querySelector('#inbox-status').textContent));
    await sendBuildFailed(server);
    await until('disabled', async () => (await deliveries(server, 'bot-switches', key)).disabled != null);
    assert.equal((await deliveries(server, 'bot-switches', key)).disabled, 'the app was removed from this team');
    await page.waitForFunction(() => /2 posts by the app's bot · 3 refused/.test(document.querySelector('#inbox-status').textContent));
    assert.equal(await page.locator('#inbox .card.bot-post').count(), 2);
    await screenshot(page, 'bot-posts-after-roster');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('"Delete the channel" disables the channel\'s bot connection; a forged deletion does not', async () => {
  const server = await startServer({ extraArgs: ['--dev-bot', '--events-secret', EVENTS_SECRET] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await addTheApp(page);
    const key = await connectOnTheBot(server, 'in-channel', await channelOf(page));

    await page.selectOption('#bot-variant', 'bad-signature');
    await page.click('#bot-delete-channel');
    await page.waitForFunction(() => /refused it: 401/.test(document.querySelector('#bot-status').textContent));
    assert.equal((await deliveries(server, 'in-channel', key)).disabled, null);

    await page.selectOption('#bot-variant', 'valid');
    await page.click('#bot-delete-channel');
    await page.waitForFunction(() => /Deleted # .+ in .+: the server answered 200/.test(document.querySelector('#bot-status').textContent));
    assert.equal((await deliveries(server, 'in-channel', key)).disabled, 'the channel was deleted in Teams');
    const accepted = await sendBuildFailed(server);
    assert.equal(accepted.deliveries, 0, 'a disabled connection gets nothing');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
