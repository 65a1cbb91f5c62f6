"""Outgoing webhooks: the deliverer that signs and sends outbox events, and the URL
guard that keeps them off private addresses."""
