"""Projections: read models derived from the event store, disposable and rebuildable at will.

The event store is the system of record; everything here is computed from it and can be thrown away.

* :mod:`projections.framework` runs projections over the store in global order. Each projection keeps its
  checkpoint in its own schema and writes it in the same transaction as the rows it derives, so a crash
  loses nothing and repeats nothing.
* :mod:`projections.lineage` is the lot-lineage projection: lots, transformation edges, pallet contents,
  receipts and shipments, with error declarations applied, independent of arrival order and duplicates.
* :mod:`projections.lineage.trace` answers backward and forward traces from those tables;
  :mod:`lotline.render` prints them as JSON, CSV or a table.
* :mod:`projections.lineage.replay` rebuilds a projection from position 0 into fresh tables and switches readers in
  one transaction, or builds the lineage as it was known at a past record time or store position.
* :mod:`lotline.demo_answers` answers the three questions of the bakery demo.
"""
