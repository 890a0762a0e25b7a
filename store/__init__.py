"""The event store: a port (:mod:`store.port`) and its adapters (PostgreSQL, in-memory)."""
