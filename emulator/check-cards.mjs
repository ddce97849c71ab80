// Checks Workflows webhook bodies the way Microsoft's Adaptive Cards renderer and the
// trigger's schema take them: reads a JSON array of bodies on stdin, prints one line per
// problem ("<index>: <problem>") and exits 1 when there is any. The server's tests feed it
// every card the server can build.
//
// Microsoft publishes the Adaptive Card JSON schema only on its website, which this machine
// cannot reach; the npm package `adaptivecards` is Microsoft's renderer, whose parser reports
// unknown elements, invalid values and missing properties at the card's declared version.

import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { adaptiveProblems } from './cards.js';

const require = createRequire(import.meta.url);
const AC = require('adaptivecards/dist/adaptivecards.js');

/** What the "When a Teams webhook request is received" trigger's schema requires. */
function envelopeProblems(body) {
  if (body?.type !== 'message') return ["'type' is not 'message'"];
  if (!Array.isArray(body.attachments) || body.attachments.length !== 1) return ['not exactly one attachment'];
  const [a] = body.attachments;
  const problems = [];
  if (a.contentType !== 'application/vnd.microsoft.card.adaptive') problems.push(`contentType is '${a.contentType}'`);
  if (!('contentUrl' in a) || a.contentUrl !== null) problems.push('contentUrl is not present and null');
  if (a.content?.type !== 'AdaptiveCard') problems.push("content.type is not 'AdaptiveCard'");
  return problems;
}

/** Texts Teams shows empty (the parser takes a TextBlock without text). */
function emptyTexts(items, at = 'body') {
  const problems = [];
  for (const [i, item] of (Array.isArray(items) ? items : []).entries()) {
    if (item?.type === 'TextBlock' && !(typeof item.text === 'string' && item.text.trim())) problems.push(`${at}[${i}] is a TextBlock without text`);
    if (item?.type === 'FactSet') {
      for (const [j, f] of (item.facts ?? []).entries()) {
        if (typeof f?.title !== 'string' || typeof f?.value !== 'string') problems.push(`${at}[${i}].facts[${j}] lacks a title or value`);
      }
    }
    if (Array.isArray(item?.items)) problems.push(...emptyTexts(item.items, `${at}[${i}].items`));
  }
  return problems;
}

const bodies = JSON.parse(readFileSync(0, 'utf8'));
let bad = 0;
for (const [i, body] of bodies.entries()) {
  const content = body?.attachments?.[0]?.content;
  const checked = adaptiveProblems(AC, content);
  const problems = [
    ...envelopeProblems(body),
    ...(Array.isArray(checked) ? checked : checked.problems),
    ...emptyTexts(content?.body),
  ];
  if (!Array.isArray(checked) && !checked.card.render) problems.push('the renderer cannot render it');
  for (const p of problems) { console.log(`${i}: ${p}`); bad += 1; }
}
console.log(`${bodies.length} cards checked, ${bad} problems`);
process.exit(bad ? 1 : 0);
