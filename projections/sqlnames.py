"""Names spliced into SQL: schemas and tables, which Lotline builds only from ``[a-z0-9_]``."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """Quote a schema or table name for SQL, refusing any name Lotline would not have built."""
    if not name.replace("_", "").isalnum() or not name.islower():
        raise ValueError(f"unsafe schema name {name!r}")
    return f'"{name}"'
