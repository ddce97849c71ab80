// A static file server that behaves like a CDN in front of `dist/`: the build's precompressed
// `.br`/`.gz` files by Accept-Encoding (brotli first), `Vary`, `application/wasm`, a year's
// cache for hashed names and `no-cache` for the rest. Listens on 127.0.0.1, random port.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import zlib from 'node:zlib';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml',
};

/** The encodings a request accepts, best first: br, then gzip, then none. */
export function acceptedEncodings(header = '') {
  const q = new Map();
  for (const part of header.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    q.set(name, qp ? Number(qp.slice(2)) : 1);
  }
  const ok = (name) => (q.get(name) ?? q.get('*') ?? 0) > 0;
  return [...(ok('br') ? ['br'] : []), ...(ok('gzip') ? ['gzip'] : [])];
}

const compressors = {
  br: (b) => zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } }),
  gzip: (b) => zlib.gzipSync(b, { level: 9 }),
};
const suffix = { br: '.br', gzip: '.gz' };

/**
 * Serves each `mounts[prefix] = dir`. `overrides['<prefix><file>']` is a body served instead
 * of the file (compressed here once, as the build would have).
 */
export async function startCdn(mounts, overrides = {}) {
  const compressed = new Map();
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const prefix = Object.keys(mounts).find((p) => path.startsWith(p));
    if (!prefix || path.includes('..')) { res.writeHead(404).end('not found'); return; }
    let file = path.slice(prefix.length) || 'index.html';
    if (file.endsWith('/')) file += 'index.html';
    const ext = file.slice(file.lastIndexOf('.'));
    const key = prefix + file;
    const headers = {
      'content-type': TYPES[ext] ?? 'application/octet-stream',
      'cache-control': /-[0-9a-f]{12,}(_bg)?\.\w+$/.test(file) ? 'public, max-age=31536000, immutable' : 'no-cache',
      vary: 'accept-encoding',
    };
    try {
      for (const enc of acceptedEncodings(req.headers['accept-encoding'])) {
        let body = null;
        if (Object.hasOwn(overrides, key)) {
          const k = `${key}${suffix[enc]}`;
          if (!compressed.has(k)) compressed.set(k, compressors[enc](Buffer.from(overrides[key])));
          body = compressed.get(k);
        } else {
          body = await readFile(join(mounts[prefix], file + suffix[enc])).catch(() => null);
        }
        if (body) { res.writeHead(200, { ...headers, 'content-encoding': enc, 'content-length': body.length }).end(body); return; }
      }
      const body = Object.hasOwn(overrides, key) ? Buffer.from(overrides[key]) : await readFile(join(mounts[prefix], file));
      res.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
    } catch { res.writeHead(404).end('not found'); }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    stop: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}
