"""CBV 2.0 vocabulary values in their one stored form.

Producers send bare values (``shipping``), URNs (``urn:epcglobal:cbv:bizstep:shipping``) or web URIs
(``https://ref.gs1.org/cbv/BizStep-shipping``). Lotline stores the bare value for standard CBV terms and the
given URI for anything else (a user vocabulary), so that queries and projections compare one spelling.
"""

from __future__ import annotations

from enum import StrEnum

CBV_WEB = "https://ref.gs1.org/cbv/"


class Vocab(StrEnum):
    """The CBV vocabularies with their URN prefix and web-URI prefix."""

    BIZ_STEP = "bizstep"
    DISPOSITION = "disp"
    BIZ_TRANSACTION_TYPE = "btt"
    SOURCE_DEST_TYPE = "sdt"
    ERROR_REASON = "er"

    @property
    def urn_prefix(self) -> str:
        return f"urn:epcglobal:cbv:{self.value}:"

    @property
    def web_prefix(self) -> str:
        return CBV_WEB + _WEB_NAMES[self] + "-"


_WEB_NAMES = {
    Vocab.BIZ_STEP: "BizStep",
    Vocab.DISPOSITION: "Disp",
    Vocab.BIZ_TRANSACTION_TYPE: "BTT",
    Vocab.SOURCE_DEST_TYPE: "SDT",
    Vocab.ERROR_REASON: "ER",
}


def canonical(vocab: Vocab, value: str) -> str:
    """Return the stored form of ``value``: bare for a CBV term in any spelling, else the URI unchanged."""
    value = value.strip()
    low = value.lower()
    if low.startswith(vocab.urn_prefix):
        return value[len(vocab.urn_prefix):]
    if value.startswith(vocab.web_prefix):
        return value[len(vocab.web_prefix):]
    return value


def web_uri(vocab: Vocab, value: str) -> str:
    """Return the CBV web URI of a stored value (bare terms expand; other URIs stay as they are)."""
    if ":" in value:
        return value
    return vocab.web_prefix + value


def urn(vocab: Vocab, value: str) -> str:
    """Return the CBV URN of a stored value, the spelling EPCIS XML uses."""
    if ":" in value:
        return value
    return vocab.urn_prefix + value
