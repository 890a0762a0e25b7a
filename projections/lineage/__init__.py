"""The lot-lineage projection: how a stored event becomes lineage rows (extract), the tables, the incremental and
bulk writers (design-notes, "Lineage semantics")."""
