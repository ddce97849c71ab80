// Signs an event the way a sender using the official `standardwebhooks` npm package does.
// Usage: node sign.mjs <secret> <webhook-id> < body; prints the three headers as JSON.
// A `whsec_` secret is given to the library as is; a plain one as its bytes (format "raw").
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const [secret, id] = process.argv.slice(2);
if (!secret || !id) {
  console.error("usage: node sign.mjs <secret> <webhook-id> < body");
  process.exit(2);
}
const body = readFileSync(0, "utf8");
const wh = secret.startsWith("whsec_")
  ? new Webhook(secret)
  : new Webhook(new TextEncoder().encode(secret), { format: "raw" });
const now = new Date();
console.log(
  JSON.stringify({
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(now.getTime() / 1000)),
    "webhook-signature": wh.sign(id, now, body),
  }),
);
