"""The event store: a port (:mod:`consumers.store.port`) and its adapters (PostgreSQL, in-memory)."""
