"""Which lots an event names: the rule behind the store's lot keys (ingest), an event's
:meth:`~schemas.epcis.model.EPCISEvent.lot_keys` and the lineage extraction.

LGTIN classes and Digital Links with ``/10/`` name their lot; an SGTIN names one only through a ``/10/`` in its
link or the ``cbvmda:lotNumber`` its commissioning (action ADD) or transformation ILMD states (domain.md §3).
Every ingested event passes through here, so this module is compiled by mypyc (``lotline/buildinfo.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from schemas.epcis.errors import IdentifierError
from schemas.epcis.identifiers import LotKey, lot_ref


def lot_keys_of(identifiers: Iterable[str], lot_from_ilmd: str | None) -> frozenset[LotKey]:
    """The lots named by ``identifiers``: lot-level ones directly, SGTINs with the lot their ILMD states."""
    keys: set[LotKey] = set()
    for text in identifiers:
        ref = _lot_ref(text)
        if isinstance(ref, LotKey):
            keys.add(ref)
        elif ref is not None and lot_from_ilmd is not None:
            keys.add(LotKey(ref, lot_from_ilmd))
    return frozenset(keys)


def _lot_ref(text: str) -> LotKey | str | None:
    """The lot ``text`` names; for an SGTIN without one, its GTIN (the lot may come from ILMD); else None."""
    try:
        return lot_ref(text)
    except IdentifierError:
        return None


_LOT_NUMBER_KEYS = ("cbvmda:lotNumber", "urn:epcglobal:cbv:mda#lotNumber", "lotNumber")


def ilmd_lot(event_type: str, action: str | None, ilmd: Any) -> str | None:
    """The lot number (``cbvmda:lotNumber`` in any of its spellings) that the ILMD of a commissioning
    (action ADD) or transformation event states for the instances it names, if any."""
    if not isinstance(ilmd, dict) or not (action == "ADD" or event_type == "TransformationEvent"):
        return None
    for key in _LOT_NUMBER_KEYS:
        value = ilmd.get(key)
        if isinstance(value, str) and value:
            return value
    return None
