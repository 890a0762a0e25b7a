"""The lot-lineage projection: facts per event, tables, incremental and bulk writers (design-notes, "Lineage
semantics")."""
