"""The CBV 2.0 EPCIS event hash ID (domain.md §5): one ID for one event, however it was serialised.

The same event captured as XML (URN vocabulary, local offset) and as JSON-LD (bare vocabulary, ``Z``) must be
recognised as a duplicate, so the ID is computed from the :class:`~schemas.epcis.model.EPCISEvent` model rather than
from either syntax. The pre-hash string follows the reference implementation
(``RalphTro/epcis-event-hash-generator``, CBV 2.0 profile):

* standard fields in a fixed order, lists sorted, values canonicalised (UTC milliseconds rounded half-up,
  numbers without trailing zeros, CBV web URIs, EPC URNs and Digital Links as canonical ``id.gs1.org`` links);
* ``eventID``, ``recordTime``, ``errorDeclaration`` and ``certificationInfo`` left out, so an error
  declaration hashes like the event it retracts;
* everything the order does not name (ILMD, user extensions, extensions inside ``readPoint``, ``bizLocation``
  and sensor elements) appended at the end as ``{namespaceURI}localName=value`` entries, sorted.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

from schemas.epcis.errors import EPCISError, IdentifierError
from schemas.epcis.identifiers import DL_HOST, IdKind, gs1_check_digit, parse_identifier
from schemas.epcis.model import EPCISEvent, JsonValue, QuantityElement
from schemas.epcis.timefmt import parse_timestamp
from schemas.epcis.vocab import CBV_WEB, Vocab, canonical, web_uri

HASH_VERSION = "CBV2.0"
GS1_VOC = "https://ref.gs1.org/voc/"

DEFAULT_NAMESPACES = {
    "cbv": CBV_WEB,
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
}
"""Prefixes the GS1 EPCIS 2.0 JSON-LD context declares; used when a document's own ``@context`` does not."""

_SENSOR_METADATA_ORDER = (
    "time", "startTime", "endTime", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod",
    "bizRules",
)
_SENSOR_REPORT_ORDER = (
    "type", "exception", "deviceID", "deviceMetadata", "rawData", "dataProcessingMethod", "time",
    "microorganism", "chemicalSubstance", "value", "component", "stringValue", "booleanValue",
    "hexBinaryValue", "uriValue", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue", "uom",
    "coordinateReferenceSystem",
)
_GS1_VOC_FIELDS = frozenset({"type", "exception"})
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CBV_URN = re.compile(r"urn:epcglobal:cbv:(bizstep|disp|btt|sdt|er):(.*)", re.IGNORECASE | re.DOTALL)
_URN_VOCAB = {v.value: v for v in Vocab}


def event_hash_id(event: EPCISEvent) -> str:
    """Return the event's hash ID: ``ni:///sha-256;{hex}?ver=CBV2.0``."""
    digest = hashlib.sha256(prehash_string(event).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={HASH_VERSION}"


def prehash_string(event: EPCISEvent) -> str:
    """Return the canonical pre-hash string of ``event`` (CBV 2.0 rules, no separators)."""
    ns = {**DEFAULT_NAMESPACES, **event.namespaces}
    out = [
        f"eventType={event.type.value}",
        f"eventTime={hash_timestamp(event.event_time)}",
        f"eventTimeZoneOffset={event.event_time_zone_offset.strip()}",
        _epc_list("epcList", event.epc_list),
        _leaf("parentID", event.parent_id),
        _epc_list("inputEPCList", event.input_epc_list),
        _epc_list("childEPCs", event.child_epcs),
        _quantity_list("quantityList", event.quantity_list),
        _quantity_list("childQuantityList", event.child_quantity_list),
        _quantity_list("inputQuantityList", event.input_quantity_list),
        _epc_list("outputEPCList", event.output_epc_list),
        _quantity_list("outputQuantityList", event.output_quantity_list),
        f"action={event.action.value}" if event.action is not None else "",
        _leaf("transformationID", event.transformation_id),
        _vocab_field("bizStep", Vocab.BIZ_STEP, event.biz_step, ns),
        _vocab_field("disposition", Vocab.DISPOSITION, event.disposition, ns),
    ]
    pd = event.persistent_disposition
    if pd is not None and (pd.set or pd.unset):
        out.append("persistentDisposition"
                   + "".join(sorted(_vocab_field("set", Vocab.DISPOSITION, v, ns) for v in pd.set))
                   + "".join(sorted(_vocab_field("unset", Vocab.DISPOSITION, v, ns) for v in pd.unset)))
    if event.read_point:
        out.append("readPoint" + _leaf("id", event.read_point))
    if event.biz_location:
        out.append("bizLocation" + _leaf("id", event.biz_location))
    out.append(_typed_list("bizTransactionList", (
        _vocab_field("type", Vocab.BIZ_TRANSACTION_TYPE, b.type, ns) + _leaf("bizTransaction", b.value)
        for b in event.biz_transaction_list)))
    out.append(_typed_list("sourceList", (
        _vocab_field("type", Vocab.SOURCE_DEST_TYPE, s.type, ns) + _leaf("source", s.value)
        for s in event.source_list)))
    out.append(_typed_list("destinationList", (
        _vocab_field("type", Vocab.SOURCE_DEST_TYPE, d.type, ns) + _leaf("destination", d.value)
        for d in event.destination_list)))
    sensors = [_sensor_element(el, ns) for el in _sensor_elements(event)]
    out.extend(sorted(s for s in sensors if s))
    out.extend(sorted(_remainder(event, ns)))
    return "".join(out)


def hash_timestamp(value: datetime) -> str:
    """UTC with exactly three fractional digits, rounded half-up (``.1415`` → ``.142``)."""
    value = value.astimezone(UTC)
    millis = (value.microsecond + 500) // 1000
    rounded = value.replace(microsecond=0) + timedelta(milliseconds=millis)
    return f"{rounded:%Y-%m-%dT%H:%M:%S}.{rounded.microsecond // 1000:03d}Z"


def canonical_value(value: JsonValue) -> str:
    """Canonicalise a leaf value as the hash writes it.

    Numbers (and strings that spell one) lose trailing zeros and leading ``+``/zeros, as the reference
    implementation does; booleans become ``true``/``false``; CBV URNs become web URIs; EPC URNs and Digital
    Links on any host become canonical ``id.gs1.org`` links; anything else is trimmed and kept.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal | float):
        return _format_number(Decimal(str(value)))
    text = str(value).strip()
    if _NUMBER.fullmatch(text):
        return _format_number(Decimal(text))
    return canonical_uri(text)


def canonical_uri(text: str) -> str:
    """The canonical form of a URI value: CBV web URI, canonical Digital Link, or the trimmed text."""
    text = text.strip()
    low = text.lower()
    if low.startswith("urn:epcglobal:cbv:"):
        m = _CBV_URN.fullmatch(text)
        return _URN_VOCAB[m.group(1).lower()].web_prefix + m.group(2) if m else text
    if low.startswith("urn:epc:") or low.startswith(("http://", "https://")):
        try:
            ident = parse_identifier(text)
        except IdentifierError:
            return text
        if ident.kind is not IdKind.OTHER:
            return ident.canonical
        return _other_epc_urn(text) if low.startswith("urn:epc:") else _other_digital_link(text)
    return text


def _format_number(number: Decimal) -> str:
    try:
        if number == number.to_integral_value():
            return str(int(number))
        return format(number.normalize(), "f")
    except (InvalidOperation, ValueError, OverflowError):  # NaN / infinity: keep what was written
        return str(number)


def _leaf(name: str, value: JsonValue) -> str:
    text = canonical_value(value)
    return f"{name}={text}" if text else ""


def _epc_list(name: str, epcs: Iterable[str]) -> str:
    items = sorted(s for s in (_leaf("epc", e) for e in epcs) if s)
    return name + "".join(items) if items else ""


def _quantity_list(name: str, quantities: Iterable[QuantityElement]) -> str:
    items = sorted(
        "quantityElement" + _leaf("epcClass", q.epc_class) + _leaf("quantity", q.quantity)
        + _leaf("uom", q.uom)
        for q in quantities
    )
    return name + "".join(items) if items else ""


def _typed_list(name: str, items: Iterable[str]) -> str:
    parts = sorted(s for s in items if s)
    return name + "".join(parts) if parts else ""


def expand_curie(value: str, namespaces: Mapping[str, str]) -> str:
    """Expand ``prefix:rest`` when ``prefix`` is a declared namespace; URIs and unknown prefixes stay."""
    prefix, sep, rest = value.partition(":")
    if sep and prefix in namespaces and not rest.startswith("//"):
        return namespaces[prefix] + rest
    return value


def _vocab_field(name: str, vocab: Vocab, value: str | None, ns: Mapping[str, str]) -> str:
    if value is None or not value.strip():
        return ""
    stored = canonical(vocab, expand_curie(value.strip(), ns))
    return f"{name}={canonical_uri(web_uri(vocab, stored))}"


def _gs1_voc(value: JsonValue, ns: Mapping[str, str]) -> str:
    """Sensor ``type``/``exception``: bare terms and ``gs1:`` CURIEs name the GS1 web vocabulary."""
    text = canonical_value(value)
    if not text:
        return ""
    if text.startswith("gs1:"):
        return GS1_VOC + text[4:]
    if ":" not in text:
        return GS1_VOC + text
    text = expand_curie(text, ns)
    if text.startswith("https://gs1.org/voc/"):
        return GS1_VOC + text[len("https://gs1.org/voc/"):]
    return text


def _sensor_value(name: str, value: JsonValue, ns: Mapping[str, str]) -> str:
    if name in _GS1_VOC_FIELDS:
        text = _gs1_voc(value, ns)
    elif "time" in name.lower() and isinstance(value, str):
        text = _sensor_time(value)
    else:
        text = canonical_value(value)
    return f"{name}={text}" if text else ""


def _sensor_time(text: str) -> str:
    try:
        return hash_timestamp(parse_timestamp(text, "time"))
    except EPCISError:
        return canonical_value(text)


def _sensor_elements(event: EPCISEvent) -> list[Mapping[str, JsonValue]]:
    return [el for el in event.sensor_element_list or [] if isinstance(el, Mapping)]


def _reports(element: Mapping[str, JsonValue]) -> list[Mapping[str, JsonValue]]:
    reports = element.get("sensorReport")
    if isinstance(reports, Mapping):
        reports = [reports]
    return [r for r in reports or [] if isinstance(r, Mapping)]


def _ordered(fields: Mapping[str, JsonValue], order: tuple[str, ...], ns: Mapping[str, str]) -> str:
    return "".join(_sensor_value(k, fields[k], ns) for k in order if k in fields)


def _sensor_element(element: Mapping[str, JsonValue], ns: Mapping[str, str]) -> str:
    parts: list[str] = []
    meta = element.get("sensorMetadata")
    if isinstance(meta, Mapping):
        text = _ordered(meta, _SENSOR_METADATA_ORDER, ns)
        if text:
            parts.append("sensorMetadata" + text)
    reports = (_ordered(r, _SENSOR_REPORT_ORDER, ns) for r in _reports(element))
    parts.extend(sorted("sensorReport" + r for r in reports if r))
    return "sensorElement" + "".join(parts) if parts else ""


def _sensor_remainder(element: Mapping[str, JsonValue], ns: Mapping[str, str]) -> str:
    parts: list[str] = []
    meta = element.get("sensorMetadata")
    if isinstance(meta, Mapping):
        extra = _entries_of({k: v for k, v in meta.items() if k not in _SENSOR_METADATA_ORDER}, ns)
        if extra:
            parts.append("sensorMetadata" + extra)
    for report in _reports(element):
        extra = _entries_of({k: v for k, v in report.items() if k not in _SENSOR_REPORT_ORDER}, ns)
        if extra:
            parts.append("sensorReport" + extra)
    for key, value in element.items():
        if key not in ("sensorMetadata", "sensorReport"):
            parts.extend(_entries(expand_key(key, ns), value, ns))
    return "sensorElement" + "".join(sorted(parts)) if parts else ""


def _remainder(event: EPCISEvent, ns: Mapping[str, str]) -> list[str]:
    """Everything the field order does not name, as top-level entries (sorted by the caller)."""
    out: list[str] = []
    if event.ilmd:
        out.append("ilmd" + _entries_of(event.ilmd, ns))
    if event.read_point_extensions:
        out.append("readPoint" + _entries_of(event.read_point_extensions, ns))
    if event.biz_location_extensions:
        out.append("bizLocation" + _entries_of(event.biz_location_extensions, ns))
    out.extend(s for s in (_sensor_remainder(el, ns) for el in _sensor_elements(event)) if s)
    for key, value in event.extensions.items():
        out.extend(_entries(expand_key(key, ns), value, ns))
    return out


def expand_key(key: str, namespaces: Mapping[str, str]) -> str:
    """Write an extension key ``prefix:local`` as ``{namespaceURI}local`` (Clark notation, as in XML)."""
    prefix, sep, local = key.partition(":")
    if sep and prefix in namespaces and not local.startswith("//"):
        return "{" + namespaces[prefix] + "}" + local
    return key


def _entries_of(fields: Mapping[str, JsonValue], ns: Mapping[str, str]) -> str:
    entries = [e for key, value in fields.items() for e in _entries(expand_key(key, ns), value, ns)]
    return "".join(sorted(entries))


def _entries(name: str, value: JsonValue, ns: Mapping[str, str]) -> list[str]:
    """One extension field as pre-hash entries: a JSON array becomes repeated elements, as XML writes it."""
    if isinstance(value, list):
        return [e for item in value for e in _entries(name, item, ns)]
    if isinstance(value, Mapping):
        if "@value" in value:
            return _entries(name, value["@value"], ns)
        return [name + _entries_of({k: v for k, v in value.items() if not k.startswith("@")}, ns)]
    text = canonical_value(value)
    return [f"{name}={text}" if text else name]


_OTHER_EPC = re.compile(r"urn:epc:(id|idpat):(gdti|gsrn|gsrnp|sgcn|ginc|gsin|cpi):(.+)", re.IGNORECASE)
_OTHER_DL_KEYS = {"253": "253", "gdti": "253", "255": "255", "gcn": "255", "401": "401", "ginc": "401",
                  "402": "402", "gsin": "402", "8006": "8006", "itip": "8006", "8010": "8010", "cpid": "8010",
                  "8017": "8017", "gsrnp": "8017", "8018": "8018", "gsrn": "8018"}
_DL_QUALIFIERS = {"8006": ("10", "21"), "8010": ("8011",)}


def _other_epc_urn(text: str) -> str:
    """EPC URNs of keys :mod:`schemas.epcis.identifiers` does not model (documents, service relations, ...)."""
    m = _OTHER_EPC.fullmatch(text)
    if m is None:
        return text
    scheme, fields = m.group(2).lower(), m.group(3).split(".")
    if not fields[0].isdigit():
        return text
    cp = fields[0]
    if scheme in ("gdti", "sgcn") and len(fields) == 3 and fields[1].isdigit() and len(cp + fields[1]) == 12:
        ai = "253" if scheme == "gdti" else "255"
        serial = "" if fields[2] == "*" else fields[2]
        return f"{DL_HOST}/{ai}/{_check(cp + fields[1])}{serial}"
    if scheme in ("gsrn", "gsrnp") and len(fields) == 2 and fields[1].isdigit() and len(cp + fields[1]) == 17:
        return f"{DL_HOST}/{'8018' if scheme == 'gsrn' else '8017'}/{_check(cp + fields[1])}"
    if scheme == "gsin" and len(fields) == 2 and fields[1].isdigit() and len(cp + fields[1]) == 16:
        return f"{DL_HOST}/402/{_check(cp + fields[1])}"
    if scheme == "ginc" and len(fields) == 2:
        return f"{DL_HOST}/401/{cp}{fields[1]}"
    if scheme == "cpi" and len(fields) == 3:
        ref = f"{DL_HOST}/8010/{cp}{fields[1]}"
        return ref if fields[2] == "*" else f"{ref}/8011/{fields[2]}"
    return text


def _check(digits: str) -> str:
    return digits + str(gs1_check_digit(digits))


def _other_digital_link(text: str) -> str:
    """Digital Links of other primary keys, on any host, moved to id.gs1.org without the query string."""
    segments = [s for s in urlsplit(text).path.split("/") if s]
    for i, seg in enumerate(segments[:-1]):
        ai = _OTHER_DL_KEYS.get(seg)
        if ai is None or not segments[i + 1][:1].isdigit():
            continue
        rest = segments[i + 2:]
        qualifiers = {rest[j]: rest[j + 1] for j in range(0, len(rest) - 1, 2)
                      if rest[j] in _DL_QUALIFIERS.get(ai, ())}
        if "21" in qualifiers:  # only the finest key: a serial makes the lot redundant
            qualifiers.pop("10", None)
        return f"{DL_HOST}/{ai}/{segments[i + 1]}" + "".join(f"/{k}/{v}" for k, v in qualifiers.items())
    return text
