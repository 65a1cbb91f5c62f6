-- --- issue 9: webhook retention (service.webhooks purge_expired) --------------------------
-- Finished deliveries, unreferenced messages and fanned-out outbox events are deleted after
-- REPLYGUARD_WEBHOOK_RETENTION_DAYS, in batches; these indexes find them without scanning.
CREATE INDEX IF NOT EXISTS webhook_deliveries_finished_idx
    ON webhook_deliveries ((COALESCE(last_attempt_at, created_at)))
    WHERE state IN ('delivered', 'failed', 'dead');
-- "Does any delivery still use this message?", and the cascade when a message is deleted.
CREATE INDEX IF NOT EXISTS webhook_deliveries_message_idx ON webhook_deliveries (message_id);
CREATE INDEX IF NOT EXISTS webhook_messages_created_idx ON webhook_messages (created_at);
CREATE INDEX IF NOT EXISTS outbox_fanned_out_idx
    ON outbox (fanned_out_at) WHERE fanned_out_at IS NOT NULL;
