// The app's bot through the emulator (`--dev-bot`): "Add the app to the team" sends the
// install activity Teams would send, signed by the emulator's Bot Framework key, to the
// server's /api/messages, which checks it with its production code and stores the team's
// reference; a forged removal is refused and changes nothing; a signed one removes it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, launchBrowser, openEmulator, screenshot } from './harness.mjs';

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Rows of `table` in the server's SQLite file. */
function rows(db, table) {
  const out = execFileSync('python3', ['-c',
    `import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from ${table}").fetchone()[0])`, db]);
  return Number(String(out).trim());
}

async function statusSays(page, pattern) {
  await page.waitForFunction((source) => new RegExp(source).test(document.querySelector('#bot-status').textContent),
    pattern.source, { timeout: 10000 });
}

test('the emulator adds the app to the team and removes it; a forged removal is refused', async () => {
  const server = await startServer({ extraArgs: ['--dev-bot'] });
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await page.waitForSelector('#bot-section:not([hidden])');
    await page.click('#bot-add');
    await statusSays(page, /Added to Contoso Engineering: the server answered 200/);
    assert.equal(rows(server.db, 'bot_installs'), 1);
    assert.equal(rows(server.db, 'bot_channels'), 2, 'the channel and General');
    await screenshot(page, 'bot-added');

    await page.selectOption('#bot-variant', 'bad-signature');
    await page.click('#bot-remove');
    await statusSays(page, /refused it: 401 .*signature is invalid/);
    assert.equal(rows(server.db, 'bot_installs'), 1, 'a forged removal changes nothing');

    await page.selectOption('#bot-variant', 'valid');
    await page.click('#bot-remove');
    await statusSays(page, /Removed from Contoso Engineering: the server answered 200/);
    assert.equal(rows(server.db, 'bot_installs'), 0);
    assert.equal(rows(server.db, 'bot_channels'), 0);
    const log = await page.evaluate(() => window.emulator.log());
    assert.ok(log.some((m) => m.func === 'emulator' && /bot remove \(bad-signature\) → \/api\/messages answered 401/.test(m.args[0])));
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});

test('without --dev-bot the emulator shows no bot', async () => {
  const server = await startServer();
  const { context, page, errors } = await openEmulator(browser, server);
  try {
    await page.waitForSelector('#add-workflow');
    // The section is revealed only when /emulator/api/bot names an app id; it names none.
    await page.waitForLoadState('networkidle');
    const bot = await page.evaluate(() => fetch('/emulator/api/bot').then((r) => r.json()));
    assert.equal(bot.appId, null);
    assert.equal(await page.isHidden('#bot-section'), true);
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
    await server.stop();
  }
});
