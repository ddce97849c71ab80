// Bundles teams-js.js (the teams-js members the page calls) into target/teams-js/teams-js.js,
// which index.html hands to Trunk. Trunk runs it as its pre_build hook (Trunk.toml), so every
// page build (`cargo xtask build/run/test/dist/size`, or `trunk build` itself) produces it.
// Fails when src/teams/sys.rs binds a member that teams-js.js does not expose.
import { readFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const entry = join(import.meta.dirname, 'teams-js.js');
export const outfile = join(root, 'target/teams-js/teams-js.js');

/** `namespace.member` for every `js_namespace = ["microsoftTeams", …], js_name = …` in sys.rs. */
export function boundMembers(rust) {
  const out = new Set();
  const re = /js_namespace\s*=\s*\[\s*"microsoftTeams"\s*((?:,\s*"\w+"\s*)+)\]\s*,\s*js_name\s*=\s*"?(\w+)"?/g;
  for (const m of rust.matchAll(re)) {
    const path = [...m[1].matchAll(/"(\w+)"/g)].map((p) => p[1]);
    out.add([...path, m[2]].join('.'));
  }
  return out;
}

/** `namespace.member` for every member of the object literals teams-js.js assigns. */
export function exposedMembers(js) {
  const out = new Set();
  for (const m of js.matchAll(/(\w+):\s*\{([^{}]*)\}/g)) {
    for (const name of m[2].split(',').map((s) => s.trim()).filter(Boolean)) out.add(`${m[1]}.${name}`);
  }
  return out;
}

/** The members sys.rs binds that teams-js.js does not expose. */
export function missingMembers(rust, js) {
  const bound = boundMembers(rust);
  if (bound.size === 0) throw new Error('src/teams/sys.rs binds no microsoftTeams member: has its syntax changed?');
  const exposed = exposedMembers(js);
  return [...bound].filter((m) => !exposed.has(m));
}

export async function bundle() {
  const missing = missingMembers(readFileSync(join(root, 'src/teams/sys.rs'), 'utf8'), readFileSync(entry, 'utf8'));
  if (missing.length) {
    throw new Error(`src/teams/sys.rs calls microsoftTeams.${missing.join(', microsoftTeams.')}, which js/teams-js.js does not expose`);
  }
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    minify: true,
    format: 'iife',
    // The page's wasm needs a browser of this age anyway.
    target: 'es2020',
    logLevel: 'warning',
  });
}

if (process.argv[1] === import.meta.filename) {
  bundle().catch((e) => { console.error(`teams-js bundle: ${e.message}`); process.exit(1); });
}
