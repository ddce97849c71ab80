// Starts the real server (dev mode, fresh SQLite file, random port) and Debian's Chromium
// through playwright-core, for the end-to-end tests. Everything listens on 127.0.0.1 and
// stops by itself when a test ends.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';

const root = resolve(import.meta.dirname, '..');
const serverBin = process.env.SERVER_BIN ?? join(root, 'target/debug/connector-server');
const distDir = process.env.DIST_DIR ?? join(root, 'dist');
export const screenshotDir = join(root, 'build/e2e-screenshots');
mkdirSync(screenshotDir, { recursive: true });

/** The events secret the end-to-end tests start their servers with (`--events-secret`). */
export const EVENTS_SECRET = 'e2e-events-secret-of-32-bytes-or-more';

/**
 * Posts `event` to `server`'s /api/events signed with `secret` (HMAC-SHA256 of
 * `timestamp.body` in x-connector-signature, the scheme the server still takes); resolves with
 * the answer's status and JSON body (null when it has none). The one signing function of the
 * end-to-end tests.
 */
export async function sendEvent(server, event, secret = EVENTS_SECRET) {
  const body = JSON.stringify(event);
  const ts = Math.floor(Date.now() / 1000);
  const sig = 'sha256=' + createHmac('sha256', secret).update(`${ts}.${body}`).digest('hex');
  const res = await fetch(`${server.url}/api/events`, { method: 'POST', body,
    headers: { 'content-type': 'application/json', 'x-connector-timestamp': String(ts), 'x-connector-signature': sig } });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** {@link sendEvent}, asserting the event was accepted (202); resolves with the answer's JSON. */
export async function sendAcceptedEvent(server, event, secret = EVENTS_SECRET) {
  const { status, body } = await sendEvent(server, event, secret);
  assert.equal(status, 202, JSON.stringify(body));
  return body;
}

// Temporary directories (the servers', a test's keys), removed when this test file's process
// ends (not when a server stops: a test may start another server on the same database).
const tempDirs = [];
process.on('exit', () => {
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* nothing to keep */ }
  }
});

/** A new directory under the system's temporary one, removed when this test file's process ends. */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

/** Starts the server (`bin`, serving `dist`: another connector's build); resolves once it prints its address. */
export async function startServer({ db, port = 0, extraArgs = [], dev = true, bin = serverBin, dist = distDir } = {}) {
  const dir = tempDir('connector-e2e-');
  db ??= join(dir, 'test.sqlite');
  const args = [...(dev ? ['--dev'] : []), '--host', '127.0.0.1', '--port', String(port), '--db', db,
    '--dist', dist, '--emulator-dir', join(root, 'emulator'), ...extraArgs];
  const proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn' } });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`server did not start in 20 s:\n${log}`)), 20000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+?)\/?\s/);
      if (m) { clearTimeout(timer); ok(m[1]); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); fail(new Error(`server exited with ${code}:\n${log}`)); });
  });
  const exited = new Promise((ok) => proc.on('exit', ok));
  return {
    url, db, log: () => log,
    async stop() { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } },
  };
}

/** Debian's Chromium, headless, with no background traffic. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/** Rows in the connections table, read straight from the SQLite file. */
export function countConnections(db) {
  const out = execFileSync('python3', ['-c',
    'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from connections").fetchone()[0])', db]);
  return Number(String(out).trim());
}

/** A fresh browser context, its page on the emulator, and clean-up. */
export async function openEmulator(browser, server, query = '') {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(`${server.url}/emulator/${query}`);
  return { context, page, errors };
}

/** The configuration page inside the emulator's iframe. */
export function configFrame(page) {
  return page.frameLocator('#host-frame');
}

export async function screenshot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/** Opens "Add connector", fills a valid form, and returns the frame. */
export async function fillNewConnection(page, name = 'Nightly builds') {
  await page.click('#add-connector');
  const frame = configFrame(page);
  await frame.locator('#field-subscription_name').fill(name);
  return frame;
}

/** Waits until the emulator's dialog is closed. */
export async function dialogClosed(page) {
  await page.waitForFunction(() => document.querySelector('#host-dialog')?.hidden === true, null, { timeout: 15000 });
}

/** The emulator's stored instances. */
export function instances(page) {
  return page.evaluate(() => window.emulator.instances());
}

/** GET a connection through the API with its webhook URL. */
export async function getConnection(server, entityId, webhookUrl) {
  const res = await fetch(`${server.url}/api/connections/${encodeURIComponent(entityId)}`,
    { headers: { 'x-teams-webhook-url': webhookUrl } });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

/**
 * A plain static file server (not ours) serving `dir` under `prefix`, on a random port;
 * `overrides` maps a file name to the body served instead of the file's.
 */
export async function startStaticServer(dir, prefix, overrides = {}) {
  const { createServer } = await import('node:http');
  const { readFile } = await import('node:fs/promises');
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.css': 'text/css',
    '.json': 'application/json', '.svg': 'image/svg+xml' };
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (!path.startsWith(prefix) || path.includes('..')) { res.writeHead(404).end('not found'); return; }
    let file = path.slice(prefix.length) || 'index.html';
    if (file.endsWith('/')) file += 'index.html';
    try {
      const body = Object.hasOwn(overrides, file) ? overrides[file] : await readFile(join(dir, file));
      const ext = file.slice(file.lastIndexOf('.'));
      res.writeHead(200, { 'content-type': types[ext] ?? 'application/octet-stream' }).end(body);
    } catch { res.writeHead(404).end('not found'); }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((ok) => server.close(ok)) };
}
