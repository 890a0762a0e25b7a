/* The checked store row of an event record in C: the native fast path of schemas/formats/wire.py.
 *
 * Why: after the Avro decoder moved to C, ingest still spent most of its Python time per event checking the
 * record (wire.check), building its JSON-LD dict (wire.to_jsonld), serialising it and collecting its lots
 * (wire.lot_keys), all of it Python building Python objects for a handful of fields.
 *
 * fast_row(record) does the three at once for the records plant systems send, and returns
 * (body JSON text, sorted lot-key texts), or None when the record is anything else: a rule it breaks, an
 * identifier lot_ref refuses, a JSON text field other than ilmd, namespaces, a value of an unexpected type.
 * It only ever *accepts*: on None the caller runs the Python functions, which are the definition and say
 * what is wrong. tests/test_wire_native.py checks that whatever it accepts the Python path accepts too, with
 * the same body and lots, on generated records and on every simulated event.
 *
 * What it cannot do cheaply in C it asks Python for, through helpers that configure() installs: lot_ref
 * (a dictionary hit for a known identifier), the exact JSON number of a quantity, and the ILMD's JSON text
 * and lot number.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

#include "_native_text.h"

#define PUT_LIT(b, lit) put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

/* A JSON string as orjson writes it: ", \ and control characters escaped (\b \t \n \f \r, else \u00xx),
 * everything else as UTF-8. Returns -1 with no exception set when `s` is not a str (the caller bails). */
static int put_str(Buf *b, PyObject *s) {
    if (s == NULL || !PyUnicode_CheckExact(s)) return -1;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) {
        PyErr_Clear();
        return -1;
    }
    return put_json_utf8(b, u, n) < 0 ? -2 : 0;
}

/* A str, or null for None. */
static int put_str_or_null(Buf *b, PyObject *s) {
    if (s == Py_None) return PUT_LIT(b, "null");
    return put_str(b, s);
}

/* A UTC datetime as schemas.epcis.timefmt.format_timestamp prints it: milliseconds always, microseconds when set. */
static int put_time(Buf *b, PyObject *t) {
    if (!is_utc_datetime(t)) return -1;
    char s[40], *o = s;
    int us = PyDateTime_DATE_GET_MICROSECOND(t);
    *o++ = '"';
    o = date_time_text(o, t);
    *o++ = '.';
    o = us % 1000 ? digits(o, us, 6) : digits(o, us / 1000, 3);
    *o++ = 'Z';
    *o++ = '"';
    return put(b, s, o - s);
}

/* The raw UTF-8 of a str (JSON text a helper produced). */
static int put_raw(Buf *b, PyObject *s) {
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(s, &n);
    if (u == NULL) return -2;
    return put(b, u, n);
}

/* ---- record access ------------------------------------------------------------------------------------ */

enum {
    F_TYPE, F_EVENT_ID, F_EVENT_TIME, F_TZ, F_RECORD_TIME, F_ACTION, F_BIZ_STEP, F_DISPOSITION, F_PERSISTENT,
    F_READ_POINT, F_BIZ_LOCATION, F_EPC_LIST, F_QUANTITY_LIST, F_PARENT, F_CHILD_EPCS, F_CHILD_QUANTITIES,
    F_INPUT_EPCS, F_INPUT_QUANTITIES, F_OUTPUT_EPCS, F_OUTPUT_QUANTITIES, F_TRANSFORMATION_ID,
    F_BIZ_TRANSACTIONS, F_SOURCES, F_DESTINATIONS, F_ERROR_DECLARATION, F_CERTIFICATION, F_ILMD, F_SENSORS,
    F_EXTENSIONS, F_READ_POINT_EXT, F_BIZ_LOCATION_EXT, F_NAMESPACES,
    /* members of nested records */
    K_EPC_CLASS, K_QUANTITY, K_UOM, K_SET, K_UNSET, K_BIZ_TRANSACTION, K_SOURCE, K_DESTINATION,
    K_DECLARATION_TIME, K_REASON, K_CORRECTIVE, K_GTIN, K_LOT,
    N_NAMES
};

static const char *const NAMES[N_NAMES] = {
    "type", "eventID", "eventTime", "eventTimeZoneOffset", "recordTime", "action", "bizStep", "disposition",
    "persistentDisposition", "readPoint", "bizLocation", "epcList", "quantityList", "parentID", "childEPCs",
    "childQuantityList", "inputEPCList", "inputQuantityList", "outputEPCList", "outputQuantityList",
    "transformationID", "bizTransactionList", "sourceList", "destinationList", "errorDeclaration",
    "certificationInfoJson", "ilmdJson", "sensorElementListJson", "extensionsJson", "readPointExtensionsJson",
    "bizLocationExtensionsJson", "namespaces",
    "epcClass", "quantity", "uom", "set", "unset", "bizTransaction", "source", "destination",
    "declarationTime", "reason", "correctiveEventIDs", "gtin", "lot",
};

static PyObject *names[N_NAMES];
static PyObject *lot_ref_fn, *quantity_text_fn, *ilmd_parts_fn, *identifier_error, *slash;

static const int EPC_LISTS[] = {F_EPC_LIST, F_CHILD_EPCS, F_INPUT_EPCS, F_OUTPUT_EPCS};
static const int QUANTITY_LISTS[] = {F_QUANTITY_LIST, F_CHILD_QUANTITIES, F_INPUT_QUANTITIES,
                                     F_OUTPUT_QUANTITIES};

/* Field `f` of dict `d` (borrowed), or NULL when the dict lacks it (no exception set). */
static PyObject *get(PyObject *d, int f) {
    PyObject *v = PyDict_GetItemWithError(d, names[f]);
    if (v == NULL) PyErr_Clear();
    return v;
}

static int is_str(PyObject *v) { return v != NULL && PyUnicode_CheckExact(v); }
static int is_list(PyObject *v) { return v != NULL && PyList_CheckExact(v); }
static int is_opt_str(PyObject *v) { return v != NULL && (v == Py_None || PyUnicode_CheckExact(v)); }
static int nonempty_str(PyObject *v) { return is_str(v) && PyUnicode_GET_LENGTH(v) > 0; }

static int str_is(PyObject *v, const char *s) { return is_str(v) && PyUnicode_CompareWithASCIIString(v, s) == 0; }

/* ---- the rules (schemas.formats.wire.check), accept-only -------------------------------------------------------- */

/* ±hh:mm within -14:00..+14:00, ASCII digits only (a subset of what parse_offset accepts unchanged). */
static int offset_ok(PyObject *v) {
    if (!is_str(v) || !PyUnicode_IS_ASCII(v) || PyUnicode_GET_LENGTH(v) != 6) return 0;
    const char *s = (const char *)PyUnicode_DATA(v);
    if ((s[0] != '+' && s[0] != '-') || s[3] != ':') return 0;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9')) return 0;
    int hh = (s[1] - '0') * 10 + (s[2] - '0'), mm = (s[4] - '0') * 10 + (s[5] - '0');
    return mm <= 59 && hh * 60 + mm <= 14 * 60;
}

/* A UN/ECE Rec 20 code as wire._check_quantities accepts it, ASCII only. */
static int uom_ok(PyObject *v) {
    if (!is_str(v) || !PyUnicode_IS_ASCII(v)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(v);
    const char *s = (const char *)PyUnicode_DATA(v);
    int digits = 1, upper = 0, lower = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z') upper = 1, digits = 0;
        else if (c >= 'a' && c <= 'z') lower = 1, digits = 0;
        else if (c < '0' || c > '9') return 0;
    }
    if (n > 0 && digits) return 1;
    return n >= 2 && n <= 3 && upper && !lower;
}

/* What lot_ref said of each identifier the lots come from, as `lot_of` keeps it. */
typedef struct {
    PyObject *refs;
} Refs;

/* identifier text -> what it says of lots: the "gtin/lot" text of a lot, a 1-tuple (gtin,) for an SGTIN
 * whose lot only the ILMD can say, None for no lot. Only identifiers lot_ref accepted are kept, so a hit also
 * means "valid"; emptied when it reaches LOT_CACHE_LIMIT entries, like lot_ref's own cache. */
static PyObject *lot_cache;
#define LOT_CACHE_LIMIT (1 << 17)

/* Keeps `out` (a new reference, returned) as what `text` says of lots. */
static PyObject *remember(PyObject *text, PyObject *out) {
    if (PyDict_GET_SIZE(lot_cache) >= LOT_CACHE_LIMIT) PyDict_Clear(lot_cache);
    if (PyDict_SetItem(lot_cache, text, out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* identifiers.quick_parse in C, as lot_of keeps its answer: 1 with *out = "gtin/lot" for a plain LGTIN URN,
 * 1 with *out = None for a plain SSCC URN, 0 for anything else (left to lot_ref), -1 on error. */
static int quick_lot(PyObject *text, PyObject **out) {
    Py_ssize_t n, lot_n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n), *lot;
    if (s == NULL) return -1;
    char buf[256];
    switch (quick_id(s, n, buf, &lot, &lot_n)) {
        case QUICK_LGTIN:
            if (lot_n > (Py_ssize_t)sizeof buf - 15) return 0;
            buf[14] = '/';
            memcpy(buf + 15, lot, (size_t)lot_n);
            *out = PyUnicode_DecodeUTF8(buf, 15 + lot_n, NULL);
            return *out == NULL ? -1 : 1;
        case QUICK_SSCC:
            *out = Py_None;
            Py_INCREF(*out);
            return 1;
        default:
            return 0;
    }
}

static PyObject *lot_of(PyObject *text) {
    PyObject *hit = PyDict_GetItemWithError(lot_cache, text);
    if (hit != NULL || PyErr_Occurred()) {
        Py_XINCREF(hit);
        return hit;
    }
    PyObject *out = NULL;
    int quick = quick_lot(text, &out);
    if (quick < 0) return NULL;
    if (quick) return remember(text, out);
    PyObject *ref = PyObject_CallOneArg(lot_ref_fn, text);
    if (ref == NULL) return NULL;
    if (ref == Py_None) {
        out = Py_None;
        Py_INCREF(out);
    } else if (PyUnicode_CheckExact(ref)) {
        out = PyTuple_Pack(1, ref);
    } else {
        PyObject *gtin = PyObject_GetAttr(ref, names[K_GTIN]);
        PyObject *lot = gtin == NULL ? NULL : PyObject_GetAttr(ref, names[K_LOT]);
        if (lot != NULL && PyUnicode_CheckExact(gtin) && PyUnicode_CheckExact(lot)) {
            PyObject *head = PyUnicode_Concat(gtin, slash);
            if (head != NULL) out = PyUnicode_Concat(head, lot);
            Py_XDECREF(head);
        } else if (lot != NULL) {
            PyErr_SetString(PyExc_TypeError, "lot_ref returned a lot key without str gtin and lot");
        }
        Py_XDECREF(gtin);
        Py_XDECREF(lot);
    }
    Py_DECREF(ref);
    return out == NULL ? NULL : remember(text, out);
}

/* quantity text -> its exact JSON number (None where the rules refuse it), as quantity_text says; bounded
 * like lot_cache. A plant's quantities repeat, so this saves a Python call per quantity. */
static PyObject *quantity_cache;
#define QUANTITY_CACHE_LIMIT 4096

static PyObject *quantity_text(PyObject *text) {
    PyObject *hit = PyDict_GetItemWithError(quantity_cache, text);
    if (hit != NULL || PyErr_Occurred()) {
        Py_XINCREF(hit);
        return hit;
    }
    PyObject *out = PyObject_CallOneArg(quantity_text_fn, text);
    if (out == NULL) return NULL;
    if (PyDict_GET_SIZE(quantity_cache) >= QUANTITY_CACHE_LIMIT) PyDict_Clear(quantity_cache);
    if (PyDict_SetItem(quantity_cache, text, out) < 0) {
        Py_DECREF(out);
        return NULL;
    }
    return out;
}

/* Validates the identifier through lot_of, keeping what it says in `refs` when `keep`; 0 on success, -1 to
 * bail (identifier refused: Python will say why), -2 on error. */
static int check_identifier(PyObject *text, Refs *refs, int keep) {
    if (!is_str(text)) return -1;
    PyObject *ref = lot_of(text);
    if (ref == NULL) {
        if (!PyErr_ExceptionMatches(identifier_error)) return -2;
        PyErr_Clear();
        return -1;
    }
    int rc = keep ? PyList_Append(refs->refs, ref) : 0;
    Py_DECREF(ref);
    return rc < 0 ? -2 : 0;
}

/* ---- the body (schemas.formats.wire.to_jsonld + jsontext.dumps) -------------------------------------------------- */

/* Return codes: 0 done, -1 bail (no exception), -2 error (exception set). */
#define TRY(x) do { int rc_ = (x); if (rc_ < 0) return rc_; } while (0)

static int put_key(Buf *b, int *first, const char *key) {
    if (!*first && put(b, ",", 1) < 0) return -2;
    *first = 0;
    TRY(put(b, "\"", 1));
    TRY(put(b, key, (Py_ssize_t)strlen(key)));
    return put(b, "\":", 2);
}

static int put_str_list(Buf *b, PyObject *list) {
    if (!is_list(list)) return -1;
    TRY(put(b, "[", 1));
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        if (i) TRY(put(b, ",", 1));
        TRY(put_str(b, PyList_GET_ITEM(list, i)));
    }
    return put(b, "]", 1);
}

static int put_quantities(Buf *b, PyObject *list) {
    TRY(put(b, "[", 1));
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *q = PyList_GET_ITEM(list, i);
        PyObject *cls = get(q, K_EPC_CLASS), *qty = get(q, K_QUANTITY), *uom = get(q, K_UOM);
        if (i) TRY(put(b, ",", 1));
        TRY(PUT_LIT(b, "{\"epcClass\":"));
        TRY(put_str(b, cls));
        if (qty != Py_None) {
            PyObject *num = quantity_text(qty);
            if (num == NULL) return -2;
            int rc = num == Py_None ? -1 : PUT_LIT(b, ",\"quantity\":");
            if (rc == 0) rc = put_raw(b, num);
            Py_DECREF(num);
            TRY(rc);
        }
        if (uom != Py_None) {
            TRY(PUT_LIT(b, ",\"uom\":"));
            TRY(put_str(b, uom));
        }
        TRY(put(b, "}", 1));
    }
    return put(b, "]", 1);
}

/* [{"type": t, key: v}, ...] where `type` may be omitted when None (`omit_none_type`) or else printed. */
static int put_typed_list(Buf *b, PyObject *list, int value_field, const char *value_key, int omit_none_type) {
    TRY(put(b, "[", 1));
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        PyObject *item = PyList_GET_ITEM(list, i);
        if (!PyDict_CheckExact(item)) return -1;
        PyObject *type = get(item, F_TYPE), *value = get(item, value_field);
        if (!is_opt_str(type) || value == NULL) return -1;
        if (i) TRY(put(b, ",", 1));
        TRY(put(b, "{", 1));
        if (!(omit_none_type && type == Py_None)) {
            TRY(PUT_LIT(b, "\"type\":"));
            TRY(put_str_or_null(b, type));
            TRY(put(b, ",", 1));
        }
        TRY(put(b, "\"", 1));
        TRY(put(b, value_key, (Py_ssize_t)strlen(value_key)));
        TRY(put(b, "\":", 2));
        TRY(put_str_or_null(b, value));
        TRY(put(b, "}", 1));
    }
    return put(b, "]", 1);
}

static int truthy_list(PyObject *v) { return is_list(v) && PyList_GET_SIZE(v) > 0; }

/* Checks the record and writes its body; the refs of the identifiers lots come from go into `refs`. */
static int row(PyObject *r, Buf *b, Refs *refs, PyObject **ilmd_lot) {
    PyObject *v[F_NAMESPACES + 1];
    for (int f = 0; f <= F_NAMESPACES; f++)
        if ((v[f] = get(r, f)) == NULL) return -1;

    /* what the fast path leaves to Python */
    if (v[F_CERTIFICATION] != Py_None || v[F_SENSORS] != Py_None || v[F_EXTENSIONS] != Py_None ||
        v[F_READ_POINT_EXT] != Py_None || v[F_BIZ_LOCATION_EXT] != Py_None || !PyDict_CheckExact(v[F_NAMESPACES]) ||
        PyDict_GET_SIZE(v[F_NAMESPACES]) != 0)
        return -1;
    for (int f = F_EPC_LIST; f <= F_OUTPUT_QUANTITIES; f++)
        if (f != F_PARENT && !is_list(v[f])) return -1;
    if (!is_list(v[F_BIZ_TRANSACTIONS]) || !is_list(v[F_SOURCES]) || !is_list(v[F_DESTINATIONS])) return -1;
    static const int OPT_STR[] = {F_EVENT_ID, F_ACTION, F_BIZ_STEP, F_DISPOSITION, F_READ_POINT, F_BIZ_LOCATION,
                                  F_PARENT, F_TRANSFORMATION_ID, F_ILMD};
    for (size_t i = 0; i < sizeof OPT_STR / sizeof *OPT_STR; i++)
        if (!is_opt_str(v[OPT_STR[i]])) return -1;
    /* the values the Avro enums allow (the Python path needs them to hash an event without an eventID) */
    static const char *const TYPES[] = {"ObjectEvent", "AggregationEvent", "TransactionEvent",
                                        "TransformationEvent", "AssociationEvent"};
    int known = 0;
    for (int i = 0; i < 5; i++) known |= str_is(v[F_TYPE], TYPES[i]);
    if (!known || !(v[F_ACTION] == Py_None || str_is(v[F_ACTION], "ADD") || str_is(v[F_ACTION], "OBSERVE") ||
                    str_is(v[F_ACTION], "DELETE")))
        return -1;

    /* wire.check */
    PyObject *type = v[F_TYPE], *action = v[F_ACTION];
    if (!offset_ok(v[F_TZ])) return -1;
    int transformation = str_is(type, "TransformationEvent");
    if (transformation != (action == Py_None)) return -1;
    if (str_is(type, "ObjectEvent") && !truthy_list(v[F_EPC_LIST]) && !truthy_list(v[F_QUANTITY_LIST])) return -1;
    if ((str_is(type, "AggregationEvent") || str_is(type, "AssociationEvent")) && !str_is(action, "OBSERVE") &&
        !nonempty_str(v[F_PARENT]))
        return -1;
    if (str_is(type, "TransactionEvent") && !truthy_list(v[F_BIZ_TRANSACTIONS])) return -1;
    if (transformation) {
        int has_in = truthy_list(v[F_INPUT_EPCS]) || truthy_list(v[F_INPUT_QUANTITIES]);
        int has_out = truthy_list(v[F_OUTPUT_EPCS]) || truthy_list(v[F_OUTPUT_QUANTITIES]);
        if (!((has_in && has_out) || (nonempty_str(v[F_TRANSFORMATION_ID]) && (has_in || has_out)))) return -1;
    }
    if (nonempty_str(v[F_PARENT])) TRY(check_identifier(v[F_PARENT], refs, 1));
    for (int i = 0; i < 4; i++) {
        PyObject *list = v[EPC_LISTS[i]];
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(list); j++) TRY(check_identifier(PyList_GET_ITEM(list, j), refs, 1));
    }
    for (int i = 0; i < 4; i++) {
        PyObject *list = v[QUANTITY_LISTS[i]];
        for (Py_ssize_t j = 0; j < PyList_GET_SIZE(list); j++) {
            PyObject *q = PyList_GET_ITEM(list, j);
            if (!PyDict_CheckExact(q)) return -1;
            PyObject *qty = get(q, K_QUANTITY), *uom = get(q, K_UOM);
            if (!is_opt_str(qty) || !is_opt_str(uom) || (uom != Py_None && !uom_ok(uom))) return -1;
            TRY(check_identifier(get(q, K_EPC_CLASS), refs, 1));
        }
    }
    if (nonempty_str(v[F_READ_POINT])) TRY(check_identifier(v[F_READ_POINT], refs, 0));
    if (nonempty_str(v[F_BIZ_LOCATION])) TRY(check_identifier(v[F_BIZ_LOCATION], refs, 0));

    /* wire.to_jsonld, in its member order */
    int first = 1;
    TRY(put(b, "{", 1));
    TRY(put_key(b, &first, "type"));
    TRY(put_str(b, type));
    if (v[F_EVENT_ID] != Py_None) {
        TRY(put_key(b, &first, "eventID"));
        TRY(put_str(b, v[F_EVENT_ID]));
    }
    TRY(put_key(b, &first, "eventTime"));
    TRY(put_time(b, v[F_EVENT_TIME]));
    if (v[F_RECORD_TIME] != Py_None) {
        TRY(put_key(b, &first, "recordTime"));
        TRY(put_time(b, v[F_RECORD_TIME]));
    }
    TRY(put_key(b, &first, "eventTimeZoneOffset"));
    TRY(put_str(b, v[F_TZ]));
    PyObject *ed = v[F_ERROR_DECLARATION];
    if (ed != Py_None) {
        if (!PyDict_CheckExact(ed)) return -1;
        PyObject *reason = get(ed, K_REASON), *corrective = get(ed, K_CORRECTIVE);
        PyObject *ext = get(ed, F_EXTENSIONS);
        if (ext != Py_None || !is_opt_str(reason) || !is_list(corrective)) return -1;
        TRY(put_key(b, &first, "errorDeclaration"));
        TRY(PUT_LIT(b, "{\"declarationTime\":"));
        TRY(put_time(b, get(ed, K_DECLARATION_TIME)));
        if (reason != Py_None) {
            TRY(PUT_LIT(b, ",\"reason\":"));
            TRY(put_str(b, reason));
        }
        if (PyList_GET_SIZE(corrective)) {
            TRY(PUT_LIT(b, ",\"correctiveEventIDs\":"));
            TRY(put_str_list(b, corrective));
        }
        TRY(put(b, "}", 1));
    }
    if (v[F_PARENT] != Py_None) {
        TRY(put_key(b, &first, "parentID"));
        TRY(put_str(b, v[F_PARENT]));
    }
    for (int i = 0; i < 4; i++)
        if (PyList_GET_SIZE(v[EPC_LISTS[i]])) {
            TRY(put_key(b, &first, NAMES[EPC_LISTS[i]]));
            TRY(put_str_list(b, v[EPC_LISTS[i]]));
        }
    for (int i = 0; i < 4; i++)
        if (PyList_GET_SIZE(v[QUANTITY_LISTS[i]])) {
            TRY(put_key(b, &first, NAMES[QUANTITY_LISTS[i]]));
            TRY(put_quantities(b, v[QUANTITY_LISTS[i]]));
        }
    static const int PLAIN[] = {F_ACTION, F_TRANSFORMATION_ID, F_BIZ_STEP, F_DISPOSITION};
    for (int i = 0; i < 4; i++)
        if (v[PLAIN[i]] != Py_None) {
            TRY(put_key(b, &first, NAMES[PLAIN[i]]));
            TRY(put_str(b, v[PLAIN[i]]));
        }
    PyObject *pd = v[F_PERSISTENT];
    if (pd != Py_None) {
        if (!PyDict_CheckExact(pd)) return -1;
        PyObject *set = get(pd, K_SET), *unset = get(pd, K_UNSET);
        if (!is_list(set) || !is_list(unset)) return -1;
        TRY(put_key(b, &first, "persistentDisposition"));
        int inner = 1;
        TRY(put(b, "{", 1));
        if (PyList_GET_SIZE(set)) {
            TRY(put_key(b, &inner, "set"));
            TRY(put_str_list(b, set));
        }
        if (PyList_GET_SIZE(unset)) {
            TRY(put_key(b, &inner, "unset"));
            TRY(put_str_list(b, unset));
        }
        TRY(put(b, "}", 1));
    }
    static const int PLACES[] = {F_READ_POINT, F_BIZ_LOCATION};
    for (int i = 0; i < 2; i++)
        if (v[PLACES[i]] != Py_None) {
            TRY(put_key(b, &first, NAMES[PLACES[i]]));
            TRY(PUT_LIT(b, "{\"id\":"));
            TRY(put_str(b, v[PLACES[i]]));
            TRY(put(b, "}", 1));
        }
    if (PyList_GET_SIZE(v[F_BIZ_TRANSACTIONS])) {
        TRY(put_key(b, &first, "bizTransactionList"));
        TRY(put_typed_list(b, v[F_BIZ_TRANSACTIONS], K_BIZ_TRANSACTION, "bizTransaction", 1));
    }
    if (PyList_GET_SIZE(v[F_SOURCES])) {
        TRY(put_key(b, &first, "sourceList"));
        TRY(put_typed_list(b, v[F_SOURCES], K_SOURCE, "source", 0));
    }
    if (PyList_GET_SIZE(v[F_DESTINATIONS])) {
        TRY(put_key(b, &first, "destinationList"));
        TRY(put_typed_list(b, v[F_DESTINATIONS], K_DESTINATION, "destination", 0));
    }
    if (v[F_ILMD] != Py_None) {
        PyObject *parts = PyObject_CallFunctionObjArgs(ilmd_parts_fn, type, action, v[F_ILMD], NULL);
        if (parts == NULL) {  /* ILMD text that does not parse: Python says why */
            PyErr_Clear();
            return -1;
        }
        int rc = 0;
        if (!PyTuple_CheckExact(parts) || PyTuple_GET_SIZE(parts) != 2) {
            rc = -1;
        } else {
            PyObject *text = PyTuple_GET_ITEM(parts, 0);
            if (text != Py_None) {
                rc = put_key(b, &first, "ilmd");
                if (rc == 0) rc = put_raw(b, text);
            }
            *ilmd_lot = PyTuple_GET_ITEM(parts, 1);
            Py_INCREF(*ilmd_lot);
        }
        Py_DECREF(parts);
        TRY(rc);
    }
    return put(b, "}", 1);
}

/* wire.lot_keys as row_from_record stores them: the sorted distinct "gtin/lot" texts. */
static PyObject *lot_texts(PyObject *refs, PyObject *ilmd_lot) {
    PyObject *seen = PySet_New(NULL);
    if (seen == NULL) return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(refs); i++) {
        PyObject *ref = PyList_GET_ITEM(refs, i);
        int rc;
        if (ref == Py_None) continue;
        if (PyUnicode_CheckExact(ref)) {
            rc = PySet_Add(seen, ref);
        } else {  /* an SGTIN's (gtin,): its lot, if any, is the ILMD's */
            if (ilmd_lot == NULL || !PyUnicode_CheckExact(ilmd_lot)) continue;
            PyObject *text = PyUnicode_FromFormat("%U/%U", PyTuple_GET_ITEM(ref, 0), ilmd_lot);
            rc = text == NULL ? -1 : PySet_Add(seen, text);
            Py_XDECREF(text);
        }
        if (rc < 0) {
            Py_DECREF(seen);
            return NULL;
        }
    }
    PyObject *list = PySequence_List(seen);
    Py_DECREF(seen);
    if (list == NULL) return NULL;
    if (PyList_Sort(list) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    PyObject *tuple = PyList_AsTuple(list);
    Py_DECREF(list);
    return tuple;
}

static PyObject *fast_row(PyObject *self, PyObject *record) {
    (void)self;
    if (lot_ref_fn == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure() was not called");
        return NULL;
    }
    if (!PyDict_CheckExact(record)) Py_RETURN_NONE;
    Buf b;
    buf_init(&b);
    Refs refs = {PyList_New(0)};
    PyObject *ilmd_lot = NULL, *out = NULL;
    if (refs.refs == NULL) return NULL;
    int rc = row(record, &b, &refs, &ilmd_lot);
    if (rc == 0) {
        PyObject *body = PyUnicode_DecodeUTF8(b.d, b.n, NULL);
        PyObject *keys = body == NULL ? NULL : lot_texts(refs.refs, ilmd_lot);
        if (keys != NULL) out = PyTuple_Pack(2, body, keys);
        Py_XDECREF(body);
        Py_XDECREF(keys);
    } else if (rc == -1) {
        out = Py_None;
        Py_INCREF(out);
    }
    buf_free(&b);
    Py_DECREF(refs.refs);
    Py_XDECREF(ilmd_lot);
    return out;
}

static PyObject *configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *a, *e, *q, *i;
    if (!PyArg_ParseTuple(args, "OOOO:configure", &a, &e, &q, &i)) return NULL;
    Py_INCREF(a);
    Py_INCREF(e);
    Py_INCREF(q);
    Py_INCREF(i);
    Py_XSETREF(lot_ref_fn, a);
    Py_XSETREF(identifier_error, e);
    Py_XSETREF(quantity_text_fn, q);
    Py_XSETREF(ilmd_parts_fn, i);
    PyDict_Clear(lot_cache);
    PyDict_Clear(quantity_cache);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"fast_row", fast_row, METH_O,
     "fast_row(record) -> (body, lot_keys) when the record passes the fast path's checks, else None."},
    {"configure", configure, METH_VARARGS,
     "configure(lot_ref, IdentifierError, quantity_text, ilmd_parts): the Python helpers fast_row calls and\n"
     "the error lot_ref raises for an identifier it refuses."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wire_native", "The checked store row of an EPCIS event record, in C.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__wire_native(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    for (int f = 0; f < N_NAMES; f++)
        if ((names[f] = PyUnicode_InternFromString(NAMES[f])) == NULL) return NULL;
    if ((slash = PyUnicode_InternFromString("/")) == NULL || (lot_cache = PyDict_New()) == NULL ||
        (quantity_cache = PyDict_New()) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
