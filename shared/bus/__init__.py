"""Small async adapters over nats-py: connection, publishing with dedup ids, KV helpers
returning decoded contract models, and an embedded nats-server for tests and demos."""
