-- The admin API's deliveries by the time they were made (their event's).
CREATE INDEX events_received ON events (received_ms);
