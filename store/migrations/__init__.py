"""Alembic migrations of the event store (run with ``lotline db upgrade``)."""
