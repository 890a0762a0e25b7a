"""GS1 identifiers: EPC URNs and GS1 Digital Link URIs parsed into typed keys, with check-digit verification.

Lots are keyed on ``(GTIN-14, lot)`` (domain.md §3): an LGTIN URN, a Digital Link ``/01/{gtin}/10/{lot}`` on
any host and an SGTIN plus the lot of its commissioning ILMD all name the same lot. The original text is
kept by callers for display; everything internal uses the normalised keys built here.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote, urlsplit

from schemas.epcis.errors import IdentifierError

DL_HOST = "https://id.gs1.org"


class IdKind(StrEnum):
    """What a parsed identifier names."""

    SGTIN = "sgtin"  # one serialised trade item
    LGTIN = "lgtin"  # a lot (batch) of a trade item class
    GTIN = "gtin"  # a trade item class, any lot (idpat or a bare /01/ link)
    SSCC = "sscc"  # a logistic unit (pallet, case)
    SGLN = "sgln"  # a location
    PGLN = "pgln"  # a party
    GRAI = "grai"  # a returnable asset
    GIAI = "giai"  # an individual asset
    OTHER = "other"  # any other URI (urn:uuid:, a document URL, ...): opaque


def gs1_check_digit(digits: str) -> int:
    """Return the GS1 mod-10 check digit for ``digits`` (weights 3,1,3,... from the rightmost digit).

    Sums the ASCII codes (``"0"`` is 48): several times faster than converting digit by digit, and every
    new identifier ingest sees passes through here.
    """
    if not _digits(digits):
        raise ValueError(f"{digits!r} is not a string of ASCII digits")
    b = digits.encode()
    odd, even = b[-1::-2], b[-2::-2]
    total = 3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even)
    return (10 - total % 10) % 10


def _digits(text: str) -> bool:
    """True for a non-empty string of ASCII digits (``str.isdigit`` alone admits ``²`` and ``٣``)."""
    return text.isascii() and text.isdigit()


def _reference(text: str) -> bool:
    """A location, party or asset reference: ASCII digits, or empty where the company prefix takes all 12 digits
    (GS1 TDS: a 12-digit company prefix leaves a zero-length reference, ``urn:epc:id:sgln:061414112345..0``)."""
    return text == "" or _digits(text)


def _with_check(data: str) -> str:
    """``data`` (already known to be ASCII digits) followed by its check digit."""
    b = data.encode()
    odd, even = b[-1::-2], b[-2::-2]
    total = 3 * (sum(odd) - 48 * len(odd)) + sum(even) - 48 * len(even)
    return data + _DIGIT_TEXT[(10 - total % 10) % 10]


_DIGIT_TEXT = "0123456789"


def _verify(key: str, what: str, original: str) -> str:
    if not _digits(key):
        raise IdentifierError(f"{what} {key!r} in {original!r} must be digits only")
    expected = gs1_check_digit(key[:-1])
    if int(key[-1]) != expected:
        raise IdentifierError(
            f"{what} {key} in {original!r} has check digit {key[-1]}, expected {expected}"
        )
    return key


def normalise_gtin(gtin: str, original: str | None = None) -> str:
    """Pad a GTIN-8/12/13/14 to 14 digits after verifying its check digit."""
    src = original or gtin
    if not _digits(gtin) or len(gtin) not in (8, 12, 13, 14):
        raise IdentifierError(f"GTIN {gtin!r} in {src!r} must have 8, 12, 13 or 14 digits")
    return _verify(gtin.rjust(14, "0"), "GTIN", src)


@dataclass(frozen=True, slots=True, order=True)
class LotKey:
    """The identity of a lot: GTIN-14 and lot number (case-sensitive)."""

    gtin: str
    lot: str

    def __str__(self) -> str:
        return f"{self.gtin}/{self.lot}"

    @property
    def digital_link(self) -> str:
        """The canonical Digital Link URI of this lot on id.gs1.org."""
        return f"{DL_HOST}/01/{self.gtin}/10/{quote(self.lot, safe='')}"

    @classmethod
    def parse(cls, text: str) -> LotKey:
        """Parse a lot given as an LGTIN URN, a Digital Link URI or ``GTIN/LOT``."""
        text = text.strip()
        if re.fullmatch(r"\d{8,14}/.+", text):
            gtin, lot = text.split("/", 1)
            return cls(normalise_gtin(gtin, text), lot)
        ident = parse_identifier(text)
        if ident.lot_key is None:
            raise IdentifierError(f"{text!r} does not name a lot (expected an LGTIN, a Digital Link with "
                                  "/01/{gtin}/10/{lot}, or GTIN/LOT)")
        return ident.lot_key


@dataclass(frozen=True, slots=True)
class Identifier:
    """A parsed GS1 identifier. ``key`` is the normalised GS1 key (GTIN-14, SSCC-18, GLN-13, ...)."""

    kind: IdKind
    original: str
    key: str | None = None
    lot: str | None = None
    serial: str | None = None
    extension: str | None = None

    @property
    def gtin(self) -> str | None:
        """The GTIN-14 of a trade-item identifier, else None."""
        return self.key if self.kind in (IdKind.SGTIN, IdKind.LGTIN, IdKind.GTIN) else None

    @property
    def lot_key(self) -> LotKey | None:
        """The lot this identifier names, when it names one (LGTIN, or a link carrying ``/10/``)."""
        if self.key is not None and self.lot is not None and self.kind in (IdKind.LGTIN, IdKind.SGTIN):
            return LotKey(self.key, self.lot)
        return None

    @property
    def canonical(self) -> str:
        """The canonical form: a Digital Link on id.gs1.org for GS1 keys, the original text otherwise.

        Only the finest key is kept, as the CBV 2.0 hash rules require (``/01/x/10/y/21/z`` → ``/01/x/21/z``).
        """
        k = self.kind
        if k is IdKind.SGTIN and self.serial is not None:
            return f"{DL_HOST}/01/{self.key}/21/{quote(self.serial, safe='')}"
        if k in (IdKind.LGTIN, IdKind.SGTIN) and self.lot is not None:
            return f"{DL_HOST}/01/{self.key}/10/{quote(self.lot, safe='')}"
        if k is IdKind.GTIN:
            return f"{DL_HOST}/01/{self.key}"
        if k is IdKind.SSCC:
            return f"{DL_HOST}/00/{self.key}"
        if k is IdKind.SGLN:
            ext = f"/254/{quote(self.extension, safe='')}" if self.extension else ""
            return f"{DL_HOST}/414/{self.key}{ext}"
        if k is IdKind.PGLN:
            return f"{DL_HOST}/417/{self.key}"
        if k is IdKind.GRAI:
            return f"{DL_HOST}/8003/{self.key}{quote(self.serial or '', safe='')}"
        if k is IdKind.GIAI:
            return f"{DL_HOST}/8004/{quote(self.key or '', safe='')}"
        return self.original


_EPC_URN = re.compile(r"urn:epc:(id|class|idpat):([a-z]+):(.+)", re.IGNORECASE)


def _split(body: str, parts: int, original: str) -> list[str]:
    fields = body.split(".")
    if len(fields) != parts:
        raise IdentifierError(f"{original!r} must have {parts} dot-separated fields, found {len(fields)}")
    return fields


def _gtin_from_epc(cp: str, item_ref: str, original: str) -> str:
    if not (_digits(cp) and _digits(item_ref)) or len(cp) + len(item_ref) != 13 or not 6 <= len(cp) <= 12:
        raise IdentifierError(
            f"{original!r}: company prefix and item reference must be 13 digits together (prefix 6-12 digits)"
        )
    return _with_check(item_ref[0] + cp + item_ref[1:])


_LOWER_FORMS = {"urn:epc:class:lgtin:": ("class", "lgtin"), "urn:epc:id:sscc:": ("id", "sscc"),
                "urn:epc:id:sgtin:": ("id", "sgtin"), "urn:epc:id:sgln:": ("id", "sgln")}


def _parse_epc_urn(text: str) -> Identifier:
    # the usual lower-case prefixes are split off without the regex (same result: the regex's ``(.+)``
    # takes any non-empty body without a newline)
    head = text[:text.find(":", text.find(":", 8) + 1) + 1]  # up to the colon after the scheme
    known = _LOWER_FORMS.get(head)
    if known is not None and len(text) > len(head) and "\n" not in text:
        (form, scheme), body = known, text[len(head):]
    else:
        m = _EPC_URN.fullmatch(text)
        if m is None:
            raise IdentifierError(f"{text!r} is not an EPC URN")
        form, scheme, body = m.group(1).lower(), m.group(2).lower(), m.group(3)
    if form == "class" and scheme == "lgtin":
        cp, item, lot = _split(body, 3, text)
        return Identifier(IdKind.LGTIN, text, _gtin_from_epc(cp, item, text), lot=unquote(lot))
    if form == "idpat" and scheme == "sgtin":
        cp, item, star = _split(body, 3, text)
        if star != "*":
            raise IdentifierError(f"{text!r}: an sgtin pattern must end in '*'")
        return Identifier(IdKind.GTIN, text, _gtin_from_epc(cp, item, text))
    if form == "id" and scheme == "sgtin":
        cp, item, serial = _split(body, 3, text)
        return Identifier(IdKind.SGTIN, text, _gtin_from_epc(cp, item, text), serial=unquote(serial))
    if form == "id" and scheme == "sscc":
        cp, ser = _split(body, 2, text)
        if not (_digits(cp) and _digits(ser)) or len(cp) + len(ser) != 17:
            raise IdentifierError(f"{text!r}: SSCC company prefix and serial reference must be 17 digits")
        return Identifier(IdKind.SSCC, text, _with_check(ser[0] + cp + ser[1:]))
    if form == "id" and scheme == "sgln":
        cp, loc, ext = _split(body, 3, text)
        if not (_digits(cp) and _reference(loc)) or len(cp) + len(loc) != 12 or not 6 <= len(cp) <= 12:
            raise IdentifierError(f"{text!r}: SGLN company prefix and location reference must be 12 digits")
        return Identifier(IdKind.SGLN, text, _with_check(cp + loc), extension=None if ext == "0" else unquote(ext))
    if form == "id" and scheme == "pgln":
        cp, party = _split(body, 2, text)
        if not (_digits(cp) and _reference(party)) or len(cp) + len(party) != 12 or not 6 <= len(cp) <= 12:
            raise IdentifierError(f"{text!r}: PGLN company prefix and party reference must be 12 digits")
        return Identifier(IdKind.PGLN, text, _with_check(cp + party))
    if form == "id" and scheme == "grai":
        cp, asset, serial = _split(body, 3, text)
        if not (_digits(cp) and _reference(asset)) or len(cp) + len(asset) != 12 or not 6 <= len(cp) <= 12:
            raise IdentifierError(f"{text!r}: GRAI company prefix and asset type must be 12 digits")
        return Identifier(IdKind.GRAI, text, _with_check("0" + cp + asset), serial=unquote(serial))
    if form == "id" and scheme == "giai":
        cp, asset = _split(body, 2, text)
        return Identifier(IdKind.GIAI, text, cp + unquote(asset))
    return Identifier(IdKind.OTHER, text)


_DL_PRIMARY = {"01", "00", "414", "417", "8003", "8004"}


def _parse_digital_link(text: str) -> Identifier | None:
    parts = urlsplit(text)
    segs = [unquote(s) for s in parts.path.split("/") if s != ""]
    start = next((i for i, s in enumerate(segs) if s in _DL_PRIMARY and i + 1 < len(segs)), None)
    if start is None:
        return None
    pairs: dict[str, str] = {}
    rest = segs[start:]
    if len(rest) % 2 != 0:
        raise IdentifierError(f"{text!r}: Digital Link path must be AI/value pairs")
    for i in range(0, len(rest), 2):
        pairs[rest[i]] = rest[i + 1]
    if "01" in pairs:
        gtin = normalise_gtin(pairs["01"], text)
        if "21" in pairs:
            return Identifier(IdKind.SGTIN, text, gtin, lot=pairs.get("10"), serial=pairs["21"])
        if "10" in pairs:
            return Identifier(IdKind.LGTIN, text, gtin, lot=pairs["10"])
        return Identifier(IdKind.GTIN, text, gtin)
    if "00" in pairs:
        sscc = pairs["00"]
        if len(sscc) != 18:
            raise IdentifierError(f"{text!r}: SSCC must have 18 digits")
        return Identifier(IdKind.SSCC, text, _verify(sscc, "SSCC", text))
    if "414" in pairs:
        gln = pairs["414"]
        if len(gln) != 13:
            raise IdentifierError(f"{text!r}: GLN must have 13 digits")
        ext = pairs.get("254")
        return Identifier(IdKind.SGLN, text, _verify(gln, "GLN", text), extension=ext if ext != "0" else None)
    if "417" in pairs:
        gln = pairs["417"]
        if len(gln) != 13:
            raise IdentifierError(f"{text!r}: party GLN must have 13 digits")
        return Identifier(IdKind.PGLN, text, _verify(gln, "GLN", text))
    if "8003" in pairs:
        grai = pairs["8003"]
        if len(grai) < 14:
            raise IdentifierError(f"{text!r}: GRAI must have at least 14 digits")
        return Identifier(IdKind.GRAI, text, _verify(grai[:14], "GRAI", text), serial=grai[14:])
    return Identifier(IdKind.GIAI, text, pairs["8004"])


_LGTIN_URN, _SSCC_URN = "urn:epc:class:lgtin:", "urn:epc:id:sscc:"


def quick_parse(text: str) -> tuple[IdKind, str, str | None] | None:
    """``(kind, key, lot)`` of the two forms that make up almost every identifier in practice, without building
    an :class:`Identifier`: :attr:`IdKind.LGTIN` with the GTIN-14 and lot of an LGTIN URN, :attr:`IdKind.SSCC`
    with the SSCC-18 of an SSCC URN; None (left to :func:`parse_identifier`) for anything else or unusual.

    Exactly the cases where :func:`parse_identifier` takes the same path and ``unquote`` changes nothing:
    lower-case prefix, three (two) dot-separated fields of ASCII digits with the right lengths, and a non-empty
    lot with no ``%`` (percent-encoding), no newline (``.`` in the URN regex does not match one) and a printable
    ASCII last character (so ``strip()`` changes nothing). A few times faster than the full parse, which matters
    to ingest (every new lot and pallet) and to a rebuild (every distinct identifier of the store);
    ``tests/test_identifiers.py`` checks it against :func:`parse_identifier` on generated identifiers.
    """
    if text.startswith(_LGTIN_URN):
        fields = text[len(_LGTIN_URN):].split(".")
        if len(fields) != 3:
            return None
        cp, ref, lot = fields
        if not (6 <= len(cp) <= 12 and len(cp) + len(ref) == 13 and ref and _digits(cp + ref) and lot
                and "%" not in lot and "\n" not in lot and "!" <= lot[-1] <= "~"):
            return None
        return IdKind.LGTIN, _with_check(ref[0] + cp + ref[1:]), lot
    if text.startswith(_SSCC_URN):
        fields = text[len(_SSCC_URN):].split(".")
        if len(fields) != 2:
            return None
        cp, ser = fields
        if not (cp and ser and len(cp) + len(ser) == 17 and _digits(cp + ser)):
            return None
        return IdKind.SSCC, _with_check(ser[0] + cp + ser[1:]), None
    return None


@functools.lru_cache(maxsize=1 << 16)
def parse_identifier(text: str) -> Identifier:
    """Parse an EPC URN or a GS1 Digital Link URI; any other URI is returned as :attr:`IdKind.OTHER`.

    Raises :class:`IdentifierError` naming the identifier when a recognised scheme is malformed or a
    check digit is wrong. Results are cached: the same lot and location identifiers recur in event after
    event, and parsing them was the ingest hot spot.
    """
    return _parse_identifier(text)


_UNSEEN = object()
_LOT_REFS: dict[str, LotKey | str | None] = {}
_LOT_REFS_LIMIT = 1 << 17


def lot_ref(text: str) -> LotKey | str | None:
    """What the identifier ``text`` says about lots: the :class:`LotKey` it names; for an SGTIN without a
    lot, its GTIN-14 (the event's ILMD may state the lot); else None.

    Raises :class:`IdentifierError` like :func:`parse_identifier`. Ingest asks this for every identifier of
    every event, once to validate and once for the event's lots, so valid answers are kept in a plain dict
    (emptied when it reaches 131,072 entries): a hit is one dictionary lookup.
    """
    ref = _LOT_REFS.get(text, _UNSEEN)
    if ref is _UNSEEN:
        quick = quick_parse(text)
        if quick is not None:
            ref = LotKey(quick[1], quick[2]) if quick[2] is not None else None
        else:
            ident = _parse_identifier(text)
            ref = ident.lot_key
            if ref is None and ident.kind is IdKind.SGTIN:
                ref = ident.key
        if len(_LOT_REFS) >= _LOT_REFS_LIMIT:
            _LOT_REFS.clear()
        _LOT_REFS[text] = ref
    return ref  # type: ignore[return-value]


def _parse_identifier(text: str) -> Identifier:
    text = text.strip()
    if text[:8].lower() == "urn:epc:":
        return _parse_epc_urn(text)
    if text.startswith(("http://", "https://")):
        dl = _parse_digital_link(text)
        if dl is not None:
            return dl
    return Identifier(IdKind.OTHER, text)


def sscc_of(text: str) -> str | None:
    """The SSCC-18 named by ``text``, or None when it is not an SSCC."""
    try:
        ident = parse_identifier(text)
    except IdentifierError:
        return None
    return ident.key if ident.kind is IdKind.SSCC else None
