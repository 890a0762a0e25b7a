/* The lineage rows of a chunk of store rows, in C: the native fast path of projections/lineage/extract.py.
 *
 * Why: with the rules in Python, a rebuild spent ~14 µs of Python per event building lines of COPY text, and
 * that was the critical path of the load (the server's reads and COPYs wait on it).
 *
 * chunk(data, ids, lgtin, lots, number, items, classify, loads) reads the `COPY ... TO STDOUT` text of
 * extract.READ_COLUMNS and returns (one bytes of COPY text per table of extract.STREAMED, the lines it did
 * not serve, rows read, last position). It shares the extractor's state (the dicts and the set) and
 * registers lots there exactly as the Python methods do (a lot `lots` does not hold gets its id from
 * `number`, extract.LotIds.number), so the two can take turns on the same store.
 * It only ever *serves*: a line it does not handle (an error declaration, a value of an unexpected type, a
 * number of more digits than a double holds) leaves its tables untouched and goes back to Python, which is
 * the definition. tests/test_lineage_extract.py checks that both produce the same text, line for line.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <string.h>

#include "_native_text.h"

#define PUT_LIT(b, lit) put((b), (lit), (Py_ssize_t)(sizeof(lit) - 1))

enum { T_ITEMS, T_EVENTS, T_RETRACTIONS, T_IO, T_AGG, T_MOVEMENTS, T_LINES, T_SSCCS, T_EDGES, N_TABLES };

enum {
    K_ACTION, K_ILMD, K_BIZ_LOCATION, K_READ_POINT, K_ID, K_TRANSFORMATION_ID, K_INPUT_EPCS, K_INPUT_QTYS,
    K_OUTPUT_EPCS, K_OUTPUT_QTYS, K_CHILD_EPCS, K_CHILD_QTYS, K_PARENT_ID, K_EPCS, K_QTYS, K_EPC_CLASS,
    K_QUANTITY, K_UOM, K_BIZ_STEP, K_SOURCE_LIST, K_DESTINATION_LIST, K_SOURCE, K_DESTINATION, K_TYPE,
    K_BIZ_TRANSACTIONS, K_BIZ_TRANSACTION, K_LOT1, K_LOT2, K_LOT3, N_NAMES
};
static const char *NAMES[N_NAMES] = {
    "action", "ilmd", "bizLocation", "readPoint", "id", "transformationID", "inputEPCList", "inputQuantityList",
    "outputEPCList", "outputQuantityList", "childEPCs", "childQuantityList", "parentID", "epcList", "quantityList",
    "epcClass", "quantity", "uom", "bizStep", "sourceList", "destinationList", "source", "destination", "type",
    "bizTransactionList", "bizTransaction", "cbvmda:lotNumber", "urn:epcglobal:cbv:mda#lotNumber", "lotNumber",
};
static PyObject *names[N_NAMES];
static PyObject *one;  /* "1": the quantity of an SGTIN named without one */
static PyObject *kind_lot, *kind_sscc;  /* "L", "C": the kinds of extract._classify */

#define DEFER 1

typedef struct {
    PyObject *ids, *lgtin, *lots, *number, *items, *classify; /* borrowed: the extractor's state and helpers */
    PyObject *event_items;                            /* item -> lot id, per event (last reference wins) */
    PyObject *keep;                                   /* classifications made for this chunk only */
    Buf out[N_TABLES];
} St;

/* A reference to lot content: lot id and item (NULL: \N), quantity text (NULL: \N), uom (NULL: \N); owned. */
typedef struct {
    PyObject *lid, *item, *qty, *uom, *gtin; /* gtin: of a serialised item whose lot is not said, else NULL */
} Ref;

typedef struct {
    Ref *r;
    Py_ssize_t n, cap;
} Refs;

static void refs_free(Refs *rs) {
    for (Py_ssize_t i = 0; i < rs->n; i++) {
        Py_XDECREF(rs->r[i].lid);
        Py_XDECREF(rs->r[i].item);
        Py_XDECREF(rs->r[i].qty);
        Py_XDECREF(rs->r[i].uom);
        Py_XDECREF(rs->r[i].gtin);
    }
    PyMem_Free(rs->r);
    rs->r = NULL;
    rs->n = rs->cap = 0;
}

/* Takes the references it is given (also when it fails). */
static int refs_push(Refs *rs, PyObject *lid, PyObject *item, PyObject *qty, PyObject *uom, PyObject *gtin) {
    if (rs->n == rs->cap) {
        Py_ssize_t cap = rs->cap ? rs->cap * 2 : 8;
        Ref *r = PyMem_Realloc(rs->r, (size_t)cap * sizeof(Ref));
        if (r == NULL) {
            Py_XDECREF(lid);
            Py_XDECREF(item);
            Py_XDECREF(qty);
            Py_XDECREF(uom);
            Py_XDECREF(gtin);
            PyErr_NoMemory();
            return -1;
        }
        rs->r = r;
        rs->cap = cap;
    }
    rs->r[rs->n++] = (Ref){lid, item, qty, uom, gtin};
    return 0;
}

/* -- COPY text ------------------------------------------------------------------------------------------- */

/* `s` as one COPY field: backslash, tab, newline and carriage return escaped (pgcopy.copy_text). */
static int put_copy(Buf *b, const char *s, Py_ssize_t n) {
    if (buf_reserve(b, n * 2) < 0) return -1;
    char *o = b->d + b->n;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        switch (c) {
            case '\\': *o++ = '\\'; *o++ = '\\'; break;
            case '\t': *o++ = '\\'; *o++ = 't'; break;
            case '\n': *o++ = '\\'; *o++ = 'n'; break;
            case '\r': *o++ = '\\'; *o++ = 'r'; break;
            default: *o++ = c;
        }
    }
    b->n = o - b->d;
    return 0;
}

/* A str as a COPY field, NULL as \N. */
static int put_obj(Buf *b, PyObject *v) {
    if (v == NULL) return PUT_LIT(b, "\\N");
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(v, &n);
    return s == NULL ? -1 : put_copy(b, s, n);
}

static int put_sep(Buf *b, char c) { return put(b, &c, 1); }

typedef struct {
    const char *s;
    Py_ssize_t n;
} Slice;

static int put_slice(Buf *b, Slice f) { return put(b, f.s, f.n); }

/* -- JSON values --------------------------------------------------------------------------------------- */

static PyObject *get(PyObject *d, int k) { return PyDict_GetItemWithError(d, names[k]); } /* borrowed */

static int str_eq(PyObject *v, const char *lit) {
    return v != NULL && PyUnicode_CheckExact(v) && PyUnicode_CompareWithASCIIString(v, lit) == 0;
}

/* A JSON string as orjson writes it (", \ and control characters escaped; JSON null for NULL/None); DEFER
 * for anything else. */
static int put_json_str(Buf *b, PyObject *v) {
    if (v == NULL || v == Py_None) return PUT_LIT(b, "null");
    if (!PyUnicode_CheckExact(v)) return DEFER;
    Py_ssize_t n;
    const char *u = PyUnicode_AsUTF8AndSize(v, &n);
    if (u == NULL) return -1;
    return put_json_utf8(b, u, n);
}

/* extract._number: the exact text of a quantity (new reference; NULL with no error for none; chunk() has
 * deferred bodies with numbers a double may not hold), DEFER for a long float repr (left to Python, to be
 * safe) or a value that is not a number. */
static int number(PyObject *v, PyObject **out) {
    *out = NULL;
    if (v == NULL || v == Py_None) return 0;
    if (PyLong_CheckExact(v)) {
        *out = PyObject_Str(v);
        return *out == NULL ? -1 : 0;
    }
    if (!PyFloat_CheckExact(v)) return DEFER;
    PyObject *r = PyObject_Repr(v);
    if (r == NULL) return -1;
    if (PyUnicode_GET_LENGTH(r) > 16) {
        Py_DECREF(r);
        return DEFER;
    }
    *out = r;
    return 0;
}

/* -- identifiers and lots ------------------------------------------------------------------------------ */

/* What extract._classify says of `text`: (kind, key, lot, item) or None; borrowed. Plain LGTIN and SSCC URNs
 * are read here (quick_id, as extract._classify reads them with identifiers.quick_parse) and not cached: they
 * are most of a store's distinct texts, and an LGTIN's lot id is then kept in `lgtin` anyway. Their tuples
 * live in `keep` until the chunk ends; the Python classifier's answers are cached in `ids`. */
static PyObject *classified(St *st, PyObject *text) {
    Py_ssize_t n, lot_n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n), *lot;
    char key[18];
    if (s == NULL) return NULL;
    PyObject *c;
    switch (quick_id(s, n, key, &lot, &lot_n)) {
        case QUICK_LGTIN: {
            PyObject *gtin = PyUnicode_FromStringAndSize(key, 14), *l = PyUnicode_DecodeUTF8(lot, lot_n, NULL);
            if (gtin != NULL) PyUnicode_InternInPlace(&gtin);  /* a store has few GTINs and many lots */
            c = gtin == NULL || l == NULL ? NULL : PyTuple_Pack(4, kind_lot, gtin, l, Py_None);
            Py_XDECREF(gtin);
            Py_XDECREF(l);
            break;
        }
        case QUICK_SSCC: {
            PyObject *sscc = PyUnicode_FromStringAndSize(key, 18);
            c = sscc == NULL ? NULL : PyTuple_Pack(4, kind_sscc, sscc, Py_None, Py_None);
            Py_XDECREF(sscc);
            break;
        }
        default:
            c = PyDict_GetItemWithError(st->ids, text);
            if (c != NULL || PyErr_Occurred()) return c;
            c = PyObject_CallOneArg(st->classify, text);
            if (c == NULL) return NULL;
            if ((c != Py_None && (!PyTuple_CheckExact(c) || PyTuple_GET_SIZE(c) != 4)) ||
                PyDict_SetItem(st->ids, text, c) < 0) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "classify must return a 4-tuple or None");
                Py_DECREF(c);
                return NULL;
            }
            Py_DECREF(c); /* the cache holds it */
            return c;
    }
    if (c == NULL || PyList_Append(st->keep, c) < 0) {
        Py_XDECREF(c);
        return NULL;
    }
    Py_DECREF(c); /* `keep` holds it */
    return c;
}

/* Extractor._lot: the id of (gtin, lot) (new reference): known, else handed out by LotIds.number. */
static PyObject *lot_id(St *st, PyObject *gtin, PyObject *lot) {
    PyObject *key = PyTuple_Pack(2, gtin, lot);
    if (key == NULL) return NULL;
    PyObject *id = PyDict_GetItemWithError(st->lots, key);
    if (id != NULL) {
        Py_INCREF(id);
    } else if (!PyErr_Occurred()) {
        id = PyObject_CallOneArg(st->number, key);
        if (id != NULL && !PyUnicode_CheckExact(id)) {
            Py_CLEAR(id);
            PyErr_SetString(PyExc_TypeError, "number must return a str");
        }
    }
    Py_DECREF(key);
    return id;
}

/* Extractor._ref: the lot content `text` names, pushed on `out` (nothing for an SSCC or a non-identifier);
 * DEFER for a GTIN with no lot (a lot-less line: rare, left to Python). Takes `qty`; `uom` and `ilmd` are
 * borrowed. */
static int ref(St *st, PyObject *text, PyObject *qty, PyObject *uom, PyObject *ilmd, Refs *out) {
    Py_XINCREF(uom);
    if (!PyUnicode_CheckExact(text)) goto none;
    PyObject *lid = PyDict_GetItemWithError(st->lgtin, text);
    if (lid != NULL) {
        Py_INCREF(lid);
        return refs_push(out, lid, NULL, qty, uom, NULL);
    }
    if (PyErr_Occurred()) goto fail;
    PyObject *c = classified(st, text);
    if (c == NULL) goto fail;
    if (c == Py_None) goto none;
    PyObject *kind = PyTuple_GET_ITEM(c, 0), *gtin = PyTuple_GET_ITEM(c, 1), *lot = PyTuple_GET_ITEM(c, 2),
             *item = PyTuple_GET_ITEM(c, 3);
    if (str_eq(kind, "L")) {
        if ((lid = lot_id(st, gtin, lot)) == NULL) goto fail;
        if (PyDict_SetItem(st->lgtin, text, lid) < 0) {
            Py_DECREF(lid);
            goto fail;
        }
        return refs_push(out, lid, NULL, qty, uom, NULL);
    }
    if (str_eq(kind, "S")) {
        if (lot == Py_None) lot = ilmd;
        if (qty == NULL) {
            qty = one;
            Py_INCREF(qty);
        }
        Py_INCREF(item);
        if (lot == NULL || lot == Py_None) {
            Py_INCREF(gtin);
            return refs_push(out, NULL, item, qty, uom, gtin);
        }
        if ((lid = lot_id(st, gtin, lot)) == NULL || PyDict_SetItem(st->event_items, item, lid) < 0) {
            Py_XDECREF(lid);
            Py_DECREF(item);
            goto fail;
        }
        return refs_push(out, lid, item, qty, uom, NULL);
    }
    if (str_eq(kind, "G")) {
        Py_XDECREF(qty);
        Py_XDECREF(uom);
        return DEFER;
    }
none:
    Py_XDECREF(qty);
    Py_XDECREF(uom);
    return 0;
fail:
    Py_XDECREF(qty);
    Py_XDECREF(uom);
    return -1;
}

/* Extractor._refs: an EPC list then a quantity list (absent: nothing; DEFER for anything but lists of str
 * and of objects). */
static int refs(St *st, PyObject *body, int epcs_k, int qtys_k, PyObject *ilmd, Refs *out) {
    PyObject *epcs = get(body, epcs_k), *qtys = epcs == NULL && PyErr_Occurred() ? NULL : get(body, qtys_k);
    if (PyErr_Occurred()) return -1;
    if (epcs != NULL && epcs != Py_None) {
        if (!PyList_CheckExact(epcs)) return DEFER;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(epcs); i++) {
            PyObject *text = PyList_GET_ITEM(epcs, i);
            if (!PyUnicode_CheckExact(text)) return DEFER;
            int rc = ref(st, text, NULL, NULL, ilmd, out);
            if (rc != 0) return rc;
        }
    }
    if (qtys != NULL && qtys != Py_None) {
        if (!PyList_CheckExact(qtys)) return DEFER;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(qtys); i++) {
            PyObject *q = PyList_GET_ITEM(qtys, i);
            if (!PyDict_CheckExact(q)) return DEFER;
            PyObject *text = get(q, K_EPC_CLASS), *uom = text == NULL ? NULL : get(q, K_UOM), *n, *qty;
            if (text == NULL || !PyUnicode_CheckExact(text)) return PyErr_Occurred() ? -1 : DEFER;
            if (uom != NULL && !PyUnicode_CheckExact(uom)) return PyErr_Occurred() ? -1 : DEFER;
            if ((n = get(q, K_QUANTITY)) == NULL && PyErr_Occurred()) return -1;
            int rc = number(n, &qty);
            if (rc != 0) return rc;
            if ((rc = ref(st, text, qty, uom, ilmd, out)) != 0) return rc;
        }
    }
    return 0;
}

/* Extractor._sscc: the SSCC `text` names (borrowed), else NULL; DEFER on a non-str. */
static int sscc_of(St *st, PyObject *text, PyObject **out) {
    *out = NULL;
    if (text == NULL || text == Py_None) return 0;
    if (!PyUnicode_CheckExact(text)) return DEFER;
    int lot = PyDict_Contains(st->lgtin, text);  /* a known LGTIN: no SSCC */
    if (lot != 0) return lot < 0 ? -1 : 0;
    PyObject *c = classified(st, text);
    if (c == NULL) return -1;
    if (c != Py_None && str_eq(PyTuple_GET_ITEM(c, 0), "C")) *out = PyTuple_GET_ITEM(c, 1);
    return 0;
}

/* -- one event ------------------------------------------------------------------------------------------ */

/* The distinct SSCCs an EPC list names, in order (borrowed, in a new array the caller frees; *n of them).
 * Anything but a list names none. */
static int ssccs_in(St *st, PyObject *epcs, PyObject ***out, Py_ssize_t *n) {
    *out = NULL;
    *n = 0;
    if (epcs == NULL || !PyList_CheckExact(epcs) || PyList_GET_SIZE(epcs) == 0) return 0;
    if ((*out = PyMem_Malloc((size_t)PyList_GET_SIZE(epcs) * sizeof(PyObject *))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(epcs); i++) {
        PyObject *s;
        int rc = sscc_of(st, PyList_GET_ITEM(epcs, i), &s);
        if (rc != 0) return rc;
        if (s == NULL) continue;
        int seen = 0;
        for (Py_ssize_t j = 0; j < *n && !seen; j++) seen = PyUnicode_Compare((*out)[j], s) == 0;
        if (!seen) (*out)[(*n)++] = s;
    }
    return 0;
}

/* A lot-content line's last four fields: lot id, item, quantity, uom. */
static int put_ref(Buf *b, const Ref *r) {
    return put_obj(b, r->lid) < 0 || put_sep(b, '\t') < 0 || put_obj(b, r->item) < 0 || put_sep(b, '\t') < 0 ||
                   put_obj(b, r->qty) < 0 || put_sep(b, '\t') < 0 || put_obj(b, r->uom) < 0
               ? -1
               : 0;
}

/* Whether the i-th ref of `rs` is the first of its lot. */
static int first_of(const Refs *rs, Py_ssize_t i) {
    for (Py_ssize_t k = 0; k < i; k++)
        if (rs->r[k].lid == rs->r[i].lid || PyUnicode_Compare(rs->r[k].lid, rs->r[i].lid) == 0) return 0;
    return 1;
}

/* Extractor._edges: the lot_edges rows of a transformation that stands alone (no transformationID) and names
 * the lot of everything it uses: each distinct (input lot, output lot). */
static int put_edges(Buf *b, const Refs *in, const Refs *out, const Buf *tkey) {
    for (Py_ssize_t i = 0; i < in->n; i++)
        if (in->r[i].lid == NULL) return 0;
    for (Py_ssize_t j = 0; j < out->n; j++)
        if (out->r[j].lid == NULL) return 0;
    for (Py_ssize_t i = 0; i < in->n; i++) {
        if (!first_of(in, i)) continue;
        for (Py_ssize_t j = 0; j < out->n; j++)
            if (first_of(out, j) &&
                (put_obj(b, in->r[i].lid) < 0 || put_sep(b, '\t') < 0 || put_obj(b, out->r[j].lid) < 0 ||
                 put_sep(b, '\t') < 0 || put(b, tkey->d, tkey->n) < 0 || put_sep(b, '\n') < 0))
                return -1;
    }
    return 0;
}

/* facts._party: the first entry of the given type with a str member, as a COPY field. */
static int put_party(Buf *b, PyObject *parties, const char *kind, int member) {
    if (parties != NULL && PyList_CheckExact(parties)) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(parties); i++) {
            PyObject *p = PyList_GET_ITEM(parties, i), *v;
            if (!PyDict_CheckExact(p)) continue;
            PyObject *type = get(p, K_TYPE);
            if (type == NULL && PyErr_Occurred()) return -1;
            if (!str_eq(type, kind)) continue;
            if ((v = get(p, member)) == NULL && PyErr_Occurred()) return -1;
            if (v != NULL && PyUnicode_CheckExact(v)) return put_obj(b, v);
        }
    }
    return PUT_LIT(b, "\\N");
}

/* Extractor._movement: a receipt or shipment that moves lines or SSCCs (distinct, in order). */
typedef struct {
    Slice position, key, event_id, event_time, tz, etype;
} Fields;

static int movement(St *st, PyObject *body, const Fields *f, PyObject *location, const Refs *lines,
                    PyObject **ssccs, Py_ssize_t n_ssccs, PyObject *pallet) {
    const Slice key = f->key;
    PyObject *step = get(body, K_BIZ_STEP);
    const char *kind;
    int parties_k, member;
    if (str_eq(step, "receiving")) {
        kind = "receive", parties_k = K_SOURCE_LIST, member = K_SOURCE;
    } else if (str_eq(step, "shipping")) {
        kind = "ship", parties_k = K_DESTINATION_LIST, member = K_DESTINATION;
    } else {
        return PyErr_Occurred() ? -1 : 0;
    }
    if (lines->n == 0 && n_ssccs == 0) return 0;
    PyObject *parties = get(body, parties_k), *docs = parties == NULL && PyErr_Occurred() ? NULL
                                                                                         : get(body, K_BIZ_TRANSACTIONS);
    if (PyErr_Occurred()) return -1;
    Buf json;
    buf_init(&json);
    int rc = PUT_LIT(&json, "[");
    if (docs != NULL && PyList_CheckExact(docs)) {
        int first = 1;
        for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(docs); i++) {
            PyObject *d = PyList_GET_ITEM(docs, i);
            if (!PyDict_CheckExact(d)) continue;
            PyObject *type = get(d, K_TYPE), *id = type == NULL && PyErr_Occurred() ? NULL : get(d, K_BIZ_TRANSACTION);
            if (PyErr_Occurred()) rc = -1;
            if (rc == 0 && !first) rc = PUT_LIT(&json, ",");
            if (rc == 0) rc = PUT_LIT(&json, "{\"type\":");
            if (rc == 0) rc = put_json_str(&json, type);
            if (rc == 0) rc = PUT_LIT(&json, ",\"id\":");
            if (rc == 0) rc = put_json_str(&json, id);
            if (rc == 0) rc = PUT_LIT(&json, "}");
            first = 0;
        }
    }
    if (rc == 0) rc = PUT_LIT(&json, "]");
    Buf *m = &st->out[T_MOVEMENTS];
    if (rc == 0)
        rc = put_slice(m, key) < 0 || put_sep(m, '\t') < 0 || put_slice(m, f->event_id) < 0 ||
                     put_sep(m, '\t') < 0 || put_slice(m, f->event_time) < 0 || put_sep(m, '\t') < 0 ||
                     put_slice(m, f->tz) < 0 || put_sep(m, '\t') < 0 || put(m, kind, (Py_ssize_t)strlen(kind)) < 0 ||
                     put_sep(m, '\t') < 0 || put_party(m, parties, "owning_party", member) < 0 ||
                     put_sep(m, '\t') < 0 || put_party(m, parties, "location", member) < 0 ||
                     put_sep(m, '\t') < 0 || put_obj(m, location) < 0 || put_sep(m, '\t') < 0 ||
                     put_copy(m, json.d, json.n) < 0 || put_sep(m, '\t') < 0 || put_obj(m, pallet) < 0 ||
                     put_sep(m, '\n') < 0
                 ? -1
                 : 0;
    buf_free(&json);
    if (rc != 0) return rc;
    Buf *l = &st->out[T_LINES], *s = &st->out[T_SSCCS];
    for (Py_ssize_t i = 0; i < lines->n; i++)
        if (put_slice(l, key) < 0 || put_sep(l, '\t') < 0 || put_ref(l, &lines->r[i]) < 0 || put_sep(l, '\t') < 0 ||
            put_obj(l, lines->r[i].gtin) < 0 || put_sep(l, '\n') < 0)  /* (lines of a GTIN alone are deferred) */
            return -1;
    for (Py_ssize_t i = 0; i < n_ssccs; i++)
        if (put_slice(s, key) < 0 || put_sep(s, '\t') < 0 || put_obj(s, ssccs[i]) < 0 || put_sep(s, '\n') < 0)
            return -1;
    return 0;
}

/* model.ilmd_lot: the first non-empty str of the three lot-number keys of a dict ILMD, on an ADD or a
 * TransformationEvent (borrowed, or NULL). */
static PyObject *ilmd_lot(PyObject *body, PyObject *action, int transformation) {
    PyObject *ilmd = get(body, K_ILMD);
    if (ilmd == NULL || !PyDict_CheckExact(ilmd) || !(str_eq(action, "ADD") || transformation)) return NULL;
    for (int k = K_LOT1; k <= K_LOT3; k++) {
        PyObject *v = get(ilmd, k);
        if (v != NULL && PyUnicode_CheckExact(v) && PyUnicode_GET_LENGTH(v) > 0) return v;
        if (PyErr_Occurred()) return NULL;
    }
    return NULL;
}

/* The location id of one of bizLocation/readPoint: NULL when absent (DEFER for a non-str id). */
static int location_id(PyObject *body, int k, PyObject **out) {
    PyObject *loc = get(body, k);
    *out = NULL;
    if (loc == NULL || !PyDict_CheckExact(loc)) return PyErr_Occurred() ? -1 : 0;
    PyObject *id = get(loc, K_ID);
    if (id == NULL || id == Py_None) return PyErr_Occurred() ? -1 : 0;
    if (!PyUnicode_CheckExact(id)) return DEFER;
    *out = id;
    return 0;
}

/* Extractor._event for an ordinary event (the caller defers declarations). */
static int event(St *st, const Fields *f, PyObject *body) {
    PyObject *bl, *rp, *location;
    int rc = location_id(body, K_BIZ_LOCATION, &bl);
    if (rc == 0) rc = location_id(body, K_READ_POINT, &rp);
    if (rc != 0) return rc;
    location = bl != NULL && PyUnicode_GET_LENGTH(bl) > 0 ? bl : rp;
    Buf *e = &st->out[T_EVENTS];  /* the key; a transformation's tkey follows in its branch */
    if (put_slice(e, f->key) < 0 || put_sep(e, '\t') < 0) return -1;
    PyObject *action = get(body, K_ACTION);
    if (action == NULL && PyErr_Occurred()) return -1;
    const Slice t = f->etype;
#define IS(name) (t.n == (Py_ssize_t)(sizeof(name) - 1) && memcmp(t.s, name, sizeof(name) - 1) == 0)
    int transformation = IS("TransformationEvent");
    if (!transformation && PUT_LIT(e, "\\N\n") < 0) return -1;
    PyObject *ilmd = ilmd_lot(body, action, transformation);
    if (ilmd == NULL && PyErr_Occurred()) return -1;
    PyDict_Clear(st->event_items);
    Refs a = {0}, b = {0};
    PyObject **ssccs = NULL;
    if (transformation) {
        PyObject *tid = get(body, K_TRANSFORMATION_ID);
        if (tid == NULL && PyErr_Occurred()) return -1;
        if ((rc = refs(st, body, K_INPUT_EPCS, K_INPUT_QTYS, ilmd, &a)) != 0 ||
            (rc = refs(st, body, K_OUTPUT_EPCS, K_OUTPUT_QTYS, ilmd, &b)) != 0)
            goto done;
        Buf tkey;
        buf_init(&tkey);
        int alone = !(tid != NULL && PyUnicode_CheckExact(tid) && PyUnicode_GET_LENGTH(tid) > 0);
        if (!alone)
            rc = PUT_LIT(&tkey, "tx:") < 0 || put_obj(&tkey, tid) < 0 ? -1 : 0;
        else
            rc = PUT_LIT(&tkey, "ev:") < 0 || put_slice(&tkey, f->key) < 0 ? -1 : 0;
        if (rc == 0) rc = put(e, tkey.d, tkey.n) < 0 || put_sep(e, '\n') < 0 ? -1 : 0;
        Buf *io = &st->out[T_IO];
        for (int side = 0; rc == 0 && side < 2; side++) {
            const Refs *rs = side ? &b : &a;
            for (Py_ssize_t i = 0; rc == 0 && i < rs->n; i++)
                rc = put(io, tkey.d, tkey.n) < 0 || put_sep(io, '\t') < 0 || put_slice(io, f->key) < 0 ||
                             (side ? PUT_LIT(io, "\tout\t") : PUT_LIT(io, "\tin\t")) < 0 ||
                             put_ref(io, &rs->r[i]) < 0 || put_sep(io, '\n') < 0
                         ? -1
                         : 0;
        }
        if (rc == 0 && alone) rc = put_edges(&st->out[T_EDGES], &a, &b, &tkey);
        buf_free(&tkey);
    } else if (IS("AggregationEvent")) {
        PyObject *child_epcs = get(body, K_CHILD_EPCS), *parent_id, *parent = NULL;
        if (child_epcs == NULL && PyErr_Occurred()) return -1;
        if ((rc = refs(st, body, K_CHILD_EPCS, K_CHILD_QTYS, ilmd, &a)) != 0) goto done;
        Py_ssize_t n = 0;  /* SSCCs among the children: cases on the pallet */
        if ((rc = ssccs_in(st, child_epcs, &ssccs, &n)) != 0) goto done;
        if ((parent_id = get(body, K_PARENT_ID)) == NULL && PyErr_Occurred()) {
            rc = -1;
            goto done;
        }
        if (parent_id != NULL && parent_id != Py_None && (!PyUnicode_CheckExact(parent_id) ||
                                                          PyUnicode_GET_LENGTH(parent_id) > 0) &&
            (rc = sscc_of(st, parent_id, &parent)) != 0)
            goto done;
        int add = str_eq(action, "ADD"), del = str_eq(action, "DELETE");
        Buf *g = &st->out[T_AGG];
#define AGG_HEAD                                                                                             \
    (put_slice(g, f->key) < 0 || put_sep(g, '\t') < 0 || put_obj(g, parent) < 0 || put_sep(g, '\t') < 0 || \
     put_obj(g, action) < 0 || put_sep(g, '\t') < 0 || put_slice(g, f->event_time) < 0 || put_sep(g, '\t') < 0)
        if (parent != NULL && (add || del)) {
            for (Py_ssize_t i = 0; rc == 0 && i < a.n; i++)
                rc = AGG_HEAD || put_ref(g, &a.r[i]) < 0 || PUT_LIT(g, "\t\\N\t") < 0 || put_obj(g, a.r[i].gtin) < 0 ||
                             put_sep(g, '\n') < 0
                         ? -1
                         : 0;
            for (Py_ssize_t i = 0; rc == 0 && i < n; i++)
                rc = AGG_HEAD || PUT_LIT(g, "\\N\t\\N\t\\N\t\\N\t") < 0 || put_obj(g, ssccs[i]) < 0 ||
                             PUT_LIT(g, "\t\\N\n") < 0
                         ? -1
                         : 0;
            int no_children = child_epcs == NULL || child_epcs == Py_None ||
                              (PyList_CheckExact(child_epcs) && PyList_GET_SIZE(child_epcs) == 0);
            if (rc == 0 && a.n == 0 && del && no_children)  /* a DELETE without children empties it */
                rc = AGG_HEAD || PUT_LIT(g, "\\N\t\\N\t\\N\t\\N\t\\N\t\\N\n") < 0 ? -1 : 0;
        }
#undef AGG_HEAD
        /* a shipment or receipt of the children it lists, on the parent; else of the parent and its contents */
        int listed = a.n > 0 || n > 0;
        if (rc == 0)
            rc = listed || parent == NULL ? movement(st, body, f, location, &a, ssccs, n, listed ? parent : NULL)
                                          : movement(st, body, f, location, &a, &parent, 1, NULL);
    } else if (IS("ObjectEvent")) {
        PyObject *epcs = get(body, K_EPCS);
        if (epcs == NULL && PyErr_Occurred()) return -1;
        if ((rc = refs(st, body, K_EPCS, K_QTYS, ilmd, &a)) != 0) goto done;
        Py_ssize_t n = 0;
        if ((rc = ssccs_in(st, epcs, &ssccs, &n)) == 0) rc = movement(st, body, f, location, &a, ssccs, n, NULL);
    } else {  /* TransactionEvent / AssociationEvent: not lineage, but the lots they name are still lots seen */
        if ((rc = refs(st, body, K_EPCS, K_QTYS, ilmd, &a)) == 0)
            rc = refs(st, body, K_CHILD_EPCS, K_CHILD_QTYS, ilmd, &b);
    }
#undef IS
    if (rc == 0) {  /* facts.items: per event the last reference of an item wins */
        Py_ssize_t pos = 0;
        PyObject *item, *lid;
        Buf *it = &st->out[T_ITEMS];
        while (rc == 0 && PyDict_Next(st->event_items, &pos, &item, &lid)) {
            PyObject *pair = PyTuple_Pack(2, item, lid);
            int has = pair == NULL ? -1 : PySet_Contains(st->items, pair);
            if (has == 0)
                rc = PySet_Add(st->items, pair) < 0 || put_obj(it, item) < 0 || put_sep(it, '\t') < 0 ||
                             put_obj(it, lid) < 0 || put_sep(it, '\n') < 0
                         ? -1
                         : 0;
            else if (has < 0)
                rc = -1;
            Py_XDECREF(pair);
        }
    }
done:
    refs_free(&a);
    refs_free(&b);
    PyMem_Free(ssccs);
    return rc;
}

/* -- a chunk ------------------------------------------------------------------------------------------- */

/* COPY text's escapes undone (COPY TO writes \\ \b \f \n \r \t \v); a new bytes object. */
static PyObject *unescaped(const char *s, Py_ssize_t n) {
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL) return NULL;
    char *o = PyBytes_AS_STRING(out), *start = o;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] != '\\' || i + 1 == n) {
            *o++ = s[i];
            continue;
        }
        char c = s[++i];
        switch (c) {
            case 'b': *o++ = '\b'; break;
            case 'f': *o++ = '\f'; break;
            case 'n': *o++ = '\n'; break;
            case 'r': *o++ = '\r'; break;
            case 't': *o++ = '\t'; break;
            case 'v': *o++ = '\v'; break;
            default: *o++ = c;
        }
    }
    if (_PyBytes_Resize(&out, o - start) < 0) return NULL;
    return out;
}

/* Whether the JSON text holds a number (outside strings) of more than 15 digits: a double may not hold it
 * exactly, and orjson reads it as one (extract._LONG_NUMBER says the same, more coarsely). */
static int long_number(const char *s, Py_ssize_t n) {
    int in_str = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            int digits = 0, mantissa = 1;
            for (; i < n; i++) {
                c = s[i];
                if (c >= '0' && c <= '9') digits += mantissa;
                else if (c == 'e' || c == 'E') mantissa = 0;
                else if (c != '.' && c != '-' && c != '+') break;
            }
            if (digits > 15) return 1;
            i--;
        }
    }
    return 0;
}

static PyObject *chunk(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data;
    PyObject *loads;
    St st = {0};
    if (!PyArg_ParseTuple(args, "y*O!O!O!OO!OO:chunk", &data, &PyDict_Type, &st.ids, &PyDict_Type, &st.lgtin,
                          &PyDict_Type, &st.lots, &st.number, &PySet_Type, &st.items, &st.classify, &loads))
        return NULL;
    for (int t = 0; t < N_TABLES; t++) buf_init(&st.out[t]);
    PyObject *deferred = PyList_New(0), *result = NULL;
    st.event_items = PyDict_New();
    st.keep = PyList_New(0);
    Py_ssize_t rows = 0;
    long long last = 0;
    if (deferred == NULL || st.event_items == NULL || st.keep == NULL) goto out;
    const char *p = data.buf, *end = p + data.len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl == NULL ? end : nl;
        Slice fld[8];
        int nf = 0;
        for (const char *q = p; nf < 8;) {
            const char *tab = nf < 7 ? memchr(q, '\t', (size_t)(line_end - q)) : NULL;
            const char *fend = tab == NULL ? line_end : tab;
            fld[nf++] = (Slice){q, fend - q};
            if (tab == NULL) break;
            q = tab + 1;
        }
        if (line_end == p) {  /* an empty line: nothing */
            p = line_end + 1;
            continue;
        }
        if (nf != 8) {
            PyErr_Format(PyExc_ValueError, "a store row with %d fields, not 8", nf);
            goto out;
        }
        rows++;
        last = 0;
        for (Py_ssize_t i = 0; i < fld[0].n; i++) last = last * 10 + (fld[0].s[i] - '0');
        int rc = DEFER;
        if (fld[2].n == 1 && fld[2].s[0] == 'f') {  /* declarations are left to Python */
            Fields f = {fld[0], fld[1], fld[4], fld[5], fld[6], fld[3]};
            PyObject *raw = memchr(fld[7].s, '\\', (size_t)fld[7].n) == NULL
                                ? PyBytes_FromStringAndSize(fld[7].s, fld[7].n)
                                : unescaped(fld[7].s, fld[7].n);
            if (raw != NULL && long_number(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))) {
                Py_CLEAR(raw);  /* the Python side reads it with exact decimals */
                goto defer;
            }
            PyObject *body = raw == NULL ? NULL : PyObject_CallOneArg(loads, raw);
            Py_XDECREF(raw);
            if (body == NULL) goto out;
            if (PyDict_CheckExact(body)) {
                Py_ssize_t mark[N_TABLES];
                for (int t = 0; t < N_TABLES; t++) mark[t] = st.out[t].n;
                rc = event(&st, &f, body);
                if (rc == DEFER)
                    for (int t = 0; t < N_TABLES; t++) st.out[t].n = mark[t];
            }
            Py_DECREF(body);
            if (rc < 0) goto out;
        }
    defer:
        if (rc == DEFER) {
            PyObject *line = PyBytes_FromStringAndSize(p, line_end - p);
            if (line == NULL || PyList_Append(deferred, line) < 0) {
                Py_XDECREF(line);
                goto out;
            }
            Py_DECREF(line);
        }
        p = line_end + 1;
    }
    PyObject *tables = PyTuple_New(N_TABLES);
    if (tables == NULL) goto out;
    for (int t = 0; t < N_TABLES; t++) {
        PyObject *text = PyBytes_FromStringAndSize(st.out[t].d, st.out[t].n);
        if (text == NULL) {
            Py_DECREF(tables);
            goto out;
        }
        PyTuple_SET_ITEM(tables, t, text);
    }
    result = Py_BuildValue("(NOnL)", tables, deferred, rows, last);
out:
    for (int t = 0; t < N_TABLES; t++) buf_free(&st.out[t]);
    Py_XDECREF(deferred);
    Py_XDECREF(st.event_items);
    Py_XDECREF(st.keep);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"chunk", chunk, METH_VARARGS,
     "chunk(data, ids, lgtin, lots, number, items, classify, loads) -> (COPY text per table, deferred lines,\n"
     "rows, last position): projections.lineage.extract.Extractor.chunk for the lines it serves."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_extract_native", "The lineage rows of store rows, in C.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__extract_native(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    for (int k = 0; k < N_NAMES; k++)
        if ((names[k] = PyUnicode_InternFromString(NAMES[k])) == NULL) return NULL;
    if ((one = PyUnicode_InternFromString("1")) == NULL || (kind_lot = PyUnicode_InternFromString("L")) == NULL ||
        (kind_sscc = PyUnicode_InternFromString("C")) == NULL)
        return NULL;
    return PyModule_Create(&module);
}
