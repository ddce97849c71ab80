-- The webhook's kind (`WebhookKind::name`), in the clear so a claim knows its rate windows
-- without opening the sealed URL. NULL for older rows until an instance's start fills it in
-- (claims meanwhile keep the windows of both kinds).
ALTER TABLE connections ADD COLUMN webhook_kind TEXT;
