// Minifies the wasm-bindgen JS glue of a release build, as Trunk's post_build hook
// (Trunk.toml). Trunk's own minifier cannot parse the glue (it leaves it as it is, with a
// warning), and esbuild saves about a quarter of its brotli bytes. The glue is changed in
// Trunk's staging directory, and its subresource-integrity hash in the page's HTML with it:
// index.html, or the tab page's tab.html (`trunk build tab.html --html-output tab.html`).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { transform } from 'esbuild';

const sri = (bytes) => `sha384-${createHash('sha384').update(bytes).digest('base64')}`;

/** The glue the page's loader imports: `import init, * as bindings from '<public url><name>.js'`. */
export function glueName(html) {
  const m = html.match(/import init, \* as bindings from ['"][^'"]*?([^/'"]+\.js)['"]/);
  return m ? m[1] : null;
}

/** The page's HTML in `staging`: the one `.html` file at its top (the auth pages are below). */
export function pageHtml(staging) {
  const pages = readdirSync(staging).filter((n) => n.endsWith('.html'));
  if (pages.length !== 1) throw new Error(`${staging} holds ${pages.length} HTML files (${pages.join(', ')}), not one page`);
  return pages[0];
}

export async function minifyGlue(staging) {
  const htmlPath = join(staging, pageHtml(staging));
  const html = readFileSync(htmlPath, 'utf8');
  const name = glueName(html);
  if (!name) throw new Error(`${htmlPath} imports no wasm-bindgen glue`);
  const path = join(staging, name);
  const source = readFileSync(path);
  const { code } = await transform(source.toString('utf8'), { minify: true, format: 'esm', target: 'es2020', logLevel: 'warning' });
  const before = sri(source);
  writeFileSync(path, code);
  writeFileSync(htmlPath, html.split(before).join(sri(Buffer.from(code))));
}

if (process.argv[1] === import.meta.filename) {
  const staging = process.env.TRUNK_STAGING_DIR;
  if (process.env.TRUNK_PROFILE !== 'release') process.exit(0);
  if (!staging) { console.error('minify-glue: TRUNK_STAGING_DIR is not set (run by Trunk)'); process.exit(1); }
  minifyGlue(staging).catch((e) => { console.error(`minify-glue: ${e.message}`); process.exit(1); });
}
