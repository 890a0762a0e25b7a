"""Consumers own every write to the event store: Kafka ingest, dead-lettering, and the store adapters."""
