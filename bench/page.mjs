// `cargo xtask bench page`: how soon our release page and the hand-written reference page are
// ready in the emulator, side by side. Both are served by a CDN-like server (precompressed,
// see cdn.mjs) from one origin and hosted by the emulator of our server on another; each load
// gets a fresh browser context (cold cache, new connections). Rounds alternate the pages
// (ABBA) so a busy machine slows both alike. Times are taken in the host page: the click that
// opens the dialog to the page's `initialize` and first `setValidityState` arriving, to the
// form's first field being in the frame's DOM (a MutationObserver in the frame), and the click
// on Save to `settings.save.success`.
//
// Arguments: --rounds N --profiles fast,slow. Environment: SERVER_BIN, OURS_DIR (our release
// dist built with --public-url /ours/), REFERENCE_DIR (the assembled reference page).
import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCdn } from './cdn.mjs';

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '15' }, profiles: { type: 'string', default: 'fast,slow' } } });
const rounds = Number(args.rounds);
const oursDir = process.env.OURS_DIR;
const referenceDir = process.env.REFERENCE_DIR;
if (!oursDir || !referenceDir || !process.env.SERVER_BIN) throw new Error('run me through `cargo xtask bench page`');
process.env.DIST_DIR = oursDir;
const { startServer, launchBrowser } = await import('../e2e/harness.mjs');

/** Lighthouse's mobile profile: 4x slower CPU, 150 ms round trip, 1.6 Mbit/s down, 750 kbit/s up. */
const PROFILES = {
  fast: { label: 'fast (no throttling)', cpu: 1, network: null, goal: 1.2 },
  slow: {
    label: 'slow (CPU 4x slower, 150 ms RTT, 1.6 Mbit/s down)', cpu: 4, goal: 1.4,
    network: { offline: false, latency: 150, downloadThroughput: 1.6e6 / 8, uploadThroughput: 750e3 / 8 },
  },
};
const profiles = args.profiles.split(',').map((p) => {
  if (!PROFILES[p]) throw new Error(`profile '${p}' is not fast or slow`);
  return p;
});

const cdnOverrides = {};
const cdn = await startCdn({ '/ours/': oursDir, '/reference/': referenceDir }, cdnOverrides);
const server = await startServer({ db: join(mkdtempSync(join(tmpdir(), 'bench-page-')), 'bench.sqlite'), extraArgs: ['--cors-origin', cdn.url] });
// What a deployment writes: the API and the host origin (our emulator) for both pages.
cdnOverrides['/ours/config.json'] = JSON.stringify({ apiBaseUrl: server.url, validMessageOrigins: [server.url] });
cdnOverrides['/reference/index.html'] = readFileSync(join(referenceDir, 'index.html'), 'utf8')
  .replace('%API_BASE_URL%', server.url).replace('%VALID_ORIGINS%', server.url);
const PAGES = { ours: `${cdn.url}/ours/`, reference: `${cdn.url}/reference/` };

const browser = await launchBrowser();

/** One cold load, form fill and save of `which` under `profile`. */
async function load(which, profile) {
  const p = PROFILES[profile];
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  try {
    // In the page's frame: when the form's first field enters the DOM (wall-clock ms).
    await context.addInitScript(() => {
      if (window === window.top) return;
      const seen = () => {
        if (window.__formShown === undefined && document.getElementById('field-subscription_name')) {
          window.__formShown = performance.timeOrigin + performance.now();
          observer.disconnect();
        }
      };
      const observer = new MutationObserver(seen);
      observer.observe(document, { childList: true, subtree: true });
    });
    const page = await context.newPage();
    await page.goto(`${server.url}/emulator/?page=${encodeURIComponent(PAGES[which])}`);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    const requests = new Map();
    cdp.on('Network.requestWillBeSent', (e) => requests.set(e.requestId, { url: e.request.url, method: e.request.method, wall: e.wallTime * 1000, ts: e.timestamp }));
    cdp.on('Network.loadingFinished', (e) => {
      const r = requests.get(e.requestId);
      if (r) Object.assign(r, { bytes: e.encodedDataLength, end: e.timestamp });
    });
    if (p.network) await cdp.send('Network.emulateNetworkConditions', p.network);
    if (p.cpu > 1) await cdp.send('Emulation.setCPUThrottlingRate', { rate: p.cpu });
    const timeOrigin = await page.evaluate(() => {
      const bench = { marks: [], open: null, save: null };
      window.__bench = bench;
      const frame = () => document.querySelector('#host-frame').contentWindow;
      window.addEventListener('message', (e) => {
        if (e.source === frame() && e.data && typeof e.data.func === 'string') {
          bench.marks.push({ func: e.data.func, args: e.data.args, t: performance.now() });
        }
      });
      window.addEventListener('click', (e) => {
        const id = e.target.closest('button')?.id;
        if (id === 'add-connector') bench.open = performance.now();
        if (id === 'host-save' && bench.save === null) bench.save = performance.now();
      }, { capture: true });
      return performance.timeOrigin;
    });
    const seen = (func) => page.waitForFunction((f) => window.__bench.marks.some((m) => m.func === f), func, { timeout: 90_000 });
    await page.click('#add-connector');
    await seen('settings.setValidityState');
    await page.frameLocator('#host-frame').locator('#field-subscription_name').fill(`Bench ${which}`);
    const frame = page.frames().find((f) => f.parentFrame() && f.url().startsWith(cdn.url));
    const formShown = await frame.evaluate(() => window.__formShown);
    await page.waitForSelector('#host-save:enabled', { timeout: 30_000 });
    await page.click('#host-save');
    await seen('settings.save.success');
    const b = await page.evaluate(() => window.__bench);
    const first = (func) => b.marks.find((m) => m.func === func)?.t;
    // Request times in ms from the click, from CDP's wall clock and monotonic clock.
    const t0 = timeOrigin + b.open;
    const timeline = [...requests.values()]
      .filter((r) => r.url.startsWith(cdn.url) || r.url.startsWith(`${server.url}/api/`))
      .map((r) => ({
        what: describe(r), start: r.wall - t0, end: r.end === undefined ? null : r.wall - t0 + (r.end - r.ts) * 1000, bytes: r.bytes ?? 0,
      }));
    return {
      initialize: first('initialize') - b.open,
      ready: first('settings.setValidityState') - b.open,
      shown: formShown - t0,
      saved: first('settings.save.success') - b.save,
      bytes: timeline.filter((r) => r.what.startsWith('page ')).reduce((n, r) => n + r.bytes, 0),
      // The first of each message up to the form being usable.
      marks: [...new Set(b.marks.map((m) => m.func))]
        .map((func) => ({ func, t: first(func) - b.open }))
        .filter((m) => m.t <= first('settings.setValidityState') - b.open),
      timeline,
    };
  } finally {
    await context.close();
  }
}

/** A request's kind, without hashes: `page wasm`, `page config.json`, `api PUT`… */
function describe(r) {
  if (r.url.startsWith(`${server.url}/api/`)) return `api ${r.method}`;
  const file = new URL(r.url).pathname.split('/').pop() || 'index.html';
  return `page ${file.replace(/-[0-9a-f]{12,}/, '')}`;
}

const results = {};
for (const profile of profiles) results[profile] = { ours: [], reference: [] };
for (let round = 1; round <= rounds; round += 1) {
  for (const profile of profiles) {
    const order = round % 2 === 1 ? ['ours', 'reference'] : ['reference', 'ours'];
    for (const which of order) results[profile][which].push(await load(which, profile));
  }
  process.stdout.write(`\rround ${round}/${rounds}`);
}
process.stdout.write('\n');
await browser.close();
await server.stop();
await cdn.stop();

// ---- report ----

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (q === 0.5 && s.length % 2 === 0) return (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
}
const ms = (x) => `${Math.round(x)}`.padStart(6);
const pad = (s, n) => String(s).padEnd(n);

const out = [];
for (const profile of profiles) {
  const p = PROFILES[profile];
  const r = results[profile];
  out.push(`\n${p.label}: ${rounds} rounds, median (p90); times in ms`);
  out.push(`${pad('', 34)}${pad('ours', 18)}${pad('reference', 18)}ours / reference`);
  const row = (label, key, fmt = (x) => `${ms(quantile(x, 0.5))} (${ms(quantile(x, 0.9)).trim()})`) => {
    const a = r.ours.map((x) => x[key]);
    const b = r.reference.map((x) => x[key]);
    const ratio = quantile(a, 0.5) / quantile(b, 0.5);
    out.push(`${pad(label, 34)}${pad(fmt(a), 18)}${pad(fmt(b), 18)}${ratio.toFixed(2)}x`);
    return ratio;
  };
  row('initialize reaches the host', 'initialize');
  const ready = row('form usable (1st setValidityState)', 'ready');
  row('form in the DOM', 'shown');
  row('Save to notifySuccess', 'saved');
  row('bytes from the CDN', 'bytes', (x) => `${(quantile(x, 0.5) / 1024).toFixed(1)} KB`);
  out.push(`goal: form usable <= ${p.goal}x the reference: ${ready <= p.goal ? 'met' : 'NOT met'} (${ready.toFixed(2)}x)`);
  // Where our page's time goes before the form is usable: the median start and end of each
  // request, and when each message reached the host.
  out.push(`our page until the form is usable (median ms from the click):`);
  const spans = new Map();
  for (const run of r.ours) {
    for (const t of run.timeline) {
      if (t.start > run.ready) continue;
      const s = spans.get(t.what) ?? { start: [], end: [] };
      s.start.push(t.start);
      if (t.end !== null) s.end.push(t.end);
      spans.set(t.what, s);
    }
    for (const m of run.marks) {
      const s = spans.get(`message ${m.func}`) ?? { start: [], end: [] };
      s.start.push(m.t);
      spans.set(`message ${m.func}`, s);
    }
  }
  const lines = [...spans.entries()].map(([what, s]) => ({ what, start: quantile(s.start, 0.5), end: s.end.length ? quantile(s.end, 0.5) : null }));
  lines.sort((a, b) => a.start - b.start);
  for (const l of lines) out.push(`  ${ms(l.start)} ${l.end === null ? '      ' : `-${ms(l.end).trim().padEnd(5)}`}  ${l.what}`);
}
console.log(out.join('\n'));
const file = join(oursDir, '..', 'results.json');
writeFileSync(file, JSON.stringify({ rounds, results }, null, 1));
console.log(`\nevery run: ${file}`);
