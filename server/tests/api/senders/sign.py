"""Signs an event the way a sender using the official `standardwebhooks` PyPI package does.

Usage: python3 sign.py <secret> <webhook-id> < body; prints the three headers as JSON.
A `whsec_` secret is given to the library as is; a plain one as its bytes.
"""

import json
import sys
from datetime import datetime, timezone

from standardwebhooks import Webhook

if len(sys.argv) != 3:
    sys.exit("usage: python3 sign.py <secret> <webhook-id> < body")
secret, msg_id = sys.argv[1], sys.argv[2]
body = sys.stdin.read()
wh = Webhook(secret if secret.startswith("whsec_") else secret.encode())
now = datetime.now(tz=timezone.utc)
print(
    json.dumps(
        {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": wh.sign(msg_id, now, body),
        }
    )
)
