// An HTTPS front for the dev server on loopback: teams-js's `authentication.authenticate`
// refuses any URL that is not https ("Url should be a valid https url"), as Teams does, so the
// sign-in popup needs the page on an https origin. A throwaway self-signed certificate for
// 127.0.0.1 (made by openssl); every request is passed to `target` as it came, except the
// files in `overrides` (path → body), e.g. the page's config.json, and `frame-ancestors`, which
// also names the emulator's origin (`embedder`), which hosts the page as Teams would.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function selfSigned() {
  const dir = mkdtempSync(join(tmpdir(), 'connector-https-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Starts the front on a free port; `target` (http://127.0.0.1:PORT) may be set later with
 * `setTarget`, as the server must know the front's origin before it starts; the target's origin
 * is the embedder.
 */
export async function startHttpsFront({ target = null, overrides = {}, port = 0 } = {}) {
  let upstream = target && new URL(target);
  let embedder = upstream?.origin;
  const server = createServer(selfSigned(), (req, res) => {
    const path = new URL(req.url, 'https://x').pathname;
    if (Object.hasOwn(overrides, path)) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(overrides[path]);
      return;
    }
    if (!upstream) { res.writeHead(503).end('the front has no server yet'); return; }
    const out = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url,
      headers: { ...req.headers, host: upstream.host } }, (answer) => {
      const headers = { ...answer.headers };
      const csp = headers['content-security-policy'];
      if (csp && embedder) headers['content-security-policy'] = csp.replace(/frame-ancestors ([^;]*)/, `frame-ancestors $1 ${embedder}`);
      res.writeHead(answer.statusCode, headers);
      answer.pipe(res);
    });
    out.on('error', (e) => { if (!res.headersSent) res.writeHead(502).end(`the server did not answer: ${e.message}`); });
    req.pipe(out);
  });
  await new Promise((ok, fail) => { server.once('error', fail); server.listen(port, '127.0.0.1', ok); });
  return {
    url: `https://127.0.0.1:${server.address().port}`,
    setTarget(url) { upstream = new URL(url); embedder = upstream.origin; },
    stop: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

// As a program, for `cargo xtask run`: node e2e/https-front.mjs --target http://127.0.0.1:8080
// [--port N] [--config-json JSON]; prints {"url":"https://127.0.0.1:PORT"} once listening and
// stops on SIGTERM/SIGINT or when its stdin pipe closes.
if (process.argv[1] && import.meta.filename === (await import('node:fs')).realpathSync(process.argv[1])) {
  const { parseArgs } = await import('node:util');
  const { values } = parseArgs({ options: { target: { type: 'string' }, port: { type: 'string', default: '0' },
    'config-json': { type: 'string' } } });
  if (!values.target) { process.stderr.write('https-front.mjs: --target http://HOST:PORT is required\n'); process.exit(2); }
  const front = await startHttpsFront({ target: values.target, port: Number(values.port),
    overrides: values['config-json'] ? { '/config.json': values['config-json'] } : {} });
  const stop = () => front.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const { fstatSync } = await import('node:fs');
  const stdin = fstatSync(0);
  if (stdin.isFIFO() || stdin.isSocket()) process.stdin.on('end', stop).resume();
  process.stdout.write(`${JSON.stringify({ url: front.url })}\n`);
}
