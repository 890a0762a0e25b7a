"""Consumers own every write to the event store: Kafka ingest and dead-lettering, through the store's port
(:mod:`store.port`)."""
