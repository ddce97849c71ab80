// The teams-js bundle (js/teams-js.js): it exposes every member src/teams/sys.rs binds, as
// functions on `window.microsoftTeams` in a real browser, and the whole UMD file is not shipped.
// (That the bundle speaks the protocol is what flows, sso and csp tests drive end to end.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { boundMembers, missingMembers } from '../js/bundle-teams-js.mjs';
import { startServer, launchBrowser } from './harness.mjs';

const root = resolve(import.meta.dirname, '..');
const sysRs = readFileSync(join(root, 'src/teams/sys.rs'), 'utf8');
const entry = readFileSync(join(root, 'js/teams-js.js'), 'utf8');
const dist = process.env.DIST_DIR ?? join(root, 'dist');

test('the build check finds what sys.rs binds and refuses a member the bundle lacks', () => {
  const bound = boundMembers(sysRs);
  assert.ok(bound.has('app.initialize') && bound.has('settings.setValidityState') && bound.has('authentication.getAuthToken'), [...bound].join(' '));
  assert.deepEqual(missingMembers(sysRs, entry), []);
  const more = `${sysRs}\n#[wasm_bindgen(js_namespace = ["microsoftTeams", "pages", "config"], js_name = setConfig, catch)]`;
  assert.deepEqual(missingMembers(more, entry), ['pages.config.setConfig']);
});

test('the built page ships the bundle, not the UMD file, and the bundle exposes every bound member', async () => {
  const files = readdirSync(dist);
  assert.equal(files.some((f) => f.startsWith('MicrosoftTeams')), false, files.join(' '));
  assert.ok(files.some((f) => /^teams-js-[0-9a-f]+\.js$/.test(f)), files.join(' '));
  const server = await startServer({ dev: false });
  const browser = await launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(`${server.url}/`);
    const kinds = await page.evaluate((members) => members.map((m) => {
      const f = m.split('.').reduce((o, k) => o?.[k], window.microsoftTeams);
      return `${m}: ${typeof f}`;
    }), [...boundMembers(sysRs)]);
    assert.deepEqual(kinds, [...boundMembers(sysRs)].map((m) => `${m}: function`));
  } finally {
    await browser.close();
    await server.stop();
  }
});
